//! The tutor's prompt: a system persona for the scenario and the learner's
//! level, then as much recent history as fits the token budget, then the
//! learner's new message.
//!
//! Token counts are estimates (no tokenizer per provider): `ceil(chars / 4) + 4`
//! per message, the usual English rule of thumb plus the per-message framing
//! overhead chat formats add. The budget covers the history only: the persona
//! and the new message are always sent (the new message is at most 4000
//! characters, so the prompt stays bounded). History is trimmed by whole turns
//! (a learner message and the tutor's reply), oldest first, so a message is
//! never cut in half and the conversation sent always starts with the learner
//! and alternates, as every provider's chat format requires.

use super::{CefrLevel, Message, MessageRole, MessageStatus, Scenario};

/// Estimated tokens of one chat message: `ceil(chars / 4) + 4`.
pub fn estimate_tokens(content: &str) -> u64 {
    let chars = u64::try_from(content.chars().count()).unwrap_or(u64::MAX);
    chars.div_ceil(4).saturating_add(4)
}

/// The most history messages that can fit `budget` (each costs at least 5
/// tokens): how many recent messages are worth loading.
pub fn max_history_messages(budget: u64) -> u32 {
    u32::try_from(budget / 5 + 2).unwrap_or(u32::MAX).min(5000)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptRole {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptMessage {
    pub role: PromptRole,
    pub content: String,
}

/// What the tutor knows about the learner beyond the level.
#[derive(Debug, Clone, Default)]
pub struct LearnerContext {
    pub display_name: String,
    pub native_language: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// System persona, history (oldest first), the new learner message.
    pub messages: Vec<PromptMessage>,
    /// History messages kept (the rest were over the budget).
    pub history_kept: usize,
    /// Their estimated tokens (at most the budget).
    pub history_tokens: u64,
}

/// The system persona for `scenario` at `level`.
pub fn persona(scenario: &Scenario, level: CefrLevel, learner: &LearnerContext) -> String {
    let mut text = format!(
        "You are {role} in an English conversation practice session.\n\
         Scenario: {title}. {description}\n\
         The learner wants to practise: {goals}.\n\
         The learner's English level is CEFR {level}, {guidance}.\n",
        role = scenario.tutor_role.trim(),
        title = scenario.title.trim(),
        description = scenario.description.trim(),
        goals = scenario.goals.join("; "),
        guidance = level.guidance(),
    );
    if !learner.display_name.trim().is_empty() {
        text.push_str(&format!(
            "The learner's name is {}.\n",
            learner.display_name.trim()
        ));
    }
    if !learner.native_language.is_empty() {
        text.push_str(&format!(
            "The learner's native language is {} (BCP 47); still answer only in English.\n",
            learner.native_language
        ));
    }
    text.push_str(&format!(
        "You opened the conversation with: \"{}\"\n\
         Stay in your role and reply only in English, in two to four sentences, at the \
         learner's level. Keep the conversation moving with a question. When the learner \
         makes a mistake, use the correct form naturally in your reply instead of lecturing.",
        scenario.opening_line.trim()
    ));
    text
}

/// Builds the prompt. `history` is the session's completed messages before
/// the new one, oldest first (a prefix of the session may be missing: the
/// caller loads only the most recent [`max_history_messages`]).
pub fn build(
    scenario: &Scenario,
    level: CefrLevel,
    learner: &LearnerContext,
    history: &[Message],
    new_message: &str,
    history_budget: u64,
) -> Prompt {
    let kept = trim_history(history, history_budget);
    let history_tokens = kept.iter().map(|m| estimate_tokens(&m.content)).sum();
    let mut messages = Vec::with_capacity(kept.len() + 2);
    messages.push(PromptMessage {
        role: PromptRole::System,
        content: persona(scenario, level, learner),
    });
    messages.extend(kept.iter().map(|m| PromptMessage {
        role: match m.role {
            MessageRole::Learner => PromptRole::User,
            MessageRole::Tutor => PromptRole::Assistant,
        },
        content: m.content.clone(),
    }));
    messages.push(PromptMessage {
        role: PromptRole::User,
        content: new_message.to_owned(),
    });
    Prompt {
        messages,
        history_kept: kept.len(),
        history_tokens,
    }
}

/// The most recent whole turns of `history` that fit `budget`, oldest first.
/// Only completed messages count (a failed exchange is not part of the
/// conversation the tutor remembers).
pub fn trim_history(history: &[Message], budget: u64) -> &[Message] {
    // Turn starts: every completed learner message; tutor messages belong to
    // the learner message before them.
    let mut start = history.len();
    let mut used: u64 = 0;
    let mut turn_cost: u64 = 0;
    for (i, m) in history.iter().enumerate().rev() {
        if m.status != MessageStatus::Completed {
            // Never send a partial or failed message: stop at the gap.
            break;
        }
        turn_cost = turn_cost.saturating_add(estimate_tokens(&m.content));
        if m.role == MessageRole::Learner {
            if used.saturating_add(turn_cost) > budget {
                break;
            }
            used += turn_cost;
            turn_cost = 0;
            start = i;
        }
    }
    &history[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Catalogue, Usage};
    use chrono::Utc;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn msg(seq: i64, role: MessageRole, content: &str) -> Message {
        Message {
            id: Uuid::now_v7(),
            session_id: Uuid::nil(),
            seq,
            role,
            content: content.to_owned(),
            status: MessageStatus::Completed,
            usage: Usage::default(),
            provider: String::new(),
            model: String::new(),
            call_id: String::new(),
            client_message_id: None,
            reply_to: None,
            attempts: 1,
            error_reason: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    /// `turns` exchanges whose messages are `len` characters each.
    fn conversation(turns: usize, len: usize) -> Vec<Message> {
        (0..turns)
            .flat_map(|t| {
                let n = i64::try_from(t).unwrap() * 2;
                [
                    msg(n + 1, MessageRole::Learner, &"l".repeat(len)),
                    msg(n + 2, MessageRole::Tutor, &"t".repeat(len)),
                ]
            })
            .collect()
    }

    #[test]
    fn token_estimate() {
        assert_eq!(estimate_tokens(""), 4);
        assert_eq!(estimate_tokens("abcd"), 5);
        assert_eq!(estimate_tokens("abcde"), 6);
        assert_eq!(estimate_tokens("ééé"), 5, "characters, not bytes");
    }

    #[test]
    fn keeps_everything_that_fits() {
        let h = conversation(3, 36); // 13 tokens each, 26 a turn
        assert_eq!(trim_history(&h, 78).len(), 6);
        assert_eq!(trim_history(&h, 1000).len(), 6);
    }

    #[test]
    fn drops_oldest_whole_turns_first() {
        let h = conversation(3, 36);
        let kept = trim_history(&h, 77);
        assert_eq!(kept.len(), 4);
        assert_eq!(
            kept[0].seq, 3,
            "the newest two turns, starting with the learner"
        );
        assert_eq!(trim_history(&h, 52).len(), 4);
        assert_eq!(trim_history(&h, 51).len(), 2);
        assert!(trim_history(&h, 25).is_empty(), "a turn is never split");
    }

    #[test]
    fn never_starts_with_a_tutor_message() {
        let mut h = conversation(2, 8);
        h.remove(0); // the window starts mid-turn
        let kept = trim_history(&h, 1000);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].role, MessageRole::Learner);
    }

    #[test]
    fn stops_at_a_message_that_is_not_completed() {
        let mut h = conversation(3, 8);
        h[1].status = MessageStatus::Partial;
        let kept = trim_history(&h, 1000);
        assert_eq!(kept.len(), 4);
        assert_eq!(kept[0].seq, 3);
    }

    #[test]
    fn the_prompt_is_persona_history_then_the_new_message() {
        let catalogue = Catalogue::embedded().unwrap();
        let scenario = catalogue.get("restaurant_order").unwrap();
        let learner = LearnerContext {
            display_name: "Aiko".into(),
            native_language: "ja".into(),
        };
        let history = conversation(2, 8);
        let p = build(
            scenario,
            CefrLevel::A2,
            &learner,
            &history,
            "A table for two",
            1000,
        );
        assert_eq!(p.messages.len(), 6);
        assert_eq!(p.history_kept, 4);
        assert_eq!(p.history_tokens, 4 * 6);
        let system = &p.messages[0];
        assert_eq!(system.role, PromptRole::System);
        for needle in [
            "a waiter",
            "CEFR A2",
            "Aiko",
            "ja",
            "Ordering at a restaurant",
            "drink",
        ] {
            assert!(
                system.content.contains(needle),
                "{needle}: {}",
                system.content
            );
        }
        assert_eq!(p.messages[1].role, PromptRole::User);
        assert_eq!(p.messages[2].role, PromptRole::Assistant);
        assert_eq!(p.messages[5].content, "A table for two");
        assert_eq!(p.messages[5].role, PromptRole::User);
    }

    proptest! {
        #[test]
        fn trimming_keeps_the_longest_suffix_of_whole_turns_within_budget(
            lens in proptest::collection::vec(0usize..400, 0..40),
            budget in 0u64..3000,
        ) {
            let history: Vec<Message> = lens.iter().enumerate().map(|(i, len)| {
                let role = if i % 2 == 0 { MessageRole::Learner } else { MessageRole::Tutor };
                msg(i64::try_from(i).unwrap() + 1, role, &"x".repeat(*len))
            }).collect();
            let kept = trim_history(&history, budget);
            let cost: u64 = kept.iter().map(|m| estimate_tokens(&m.content)).sum();
            prop_assert!(cost <= budget);
            let start = history.len() - kept.len();
            prop_assert!(kept.is_empty() || kept[0].role == MessageRole::Learner);
            // The next older turn would not have fitted.
            if start > 0 {
                let prev_start = history[..start].iter().rposition(|m| m.role == MessageRole::Learner);
                if let Some(p) = prev_start {
                    let older: u64 = history[p..start].iter().map(|m| estimate_tokens(&m.content)).sum();
                    prop_assert!(cost + older > budget);
                }
            }
        }
    }
}
