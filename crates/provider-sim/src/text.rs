//! Deterministic text, token counts and embeddings.
//!
//! Everything here is a pure function of its input so that two runs (and two vendors) given the
//! same conversation produce byte-identical answers and usage numbers.

use serde_json::Value;

/// Marker in the last user message that makes the vendor answer "context too long".
pub const CONTEXT_LENGTH_TRIGGER: &str = "[[context_length]]";
/// Marker in the last user message that makes the vendor's content filter fire.
pub const CONTENT_FILTER_TRIGGER: &str = "[[content_filter]]";

/// How many words of the user's message the reply echoes.
const ECHO_WORDS: usize = 12;

/// A chat request reduced to what the simulator needs, whatever the vendor's wire shape.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chat {
    pub model: String,
    /// All system/developer text, concatenated.
    pub system: String,
    /// `(role, text)` in order.
    pub messages: Vec<(String, String)>,
    pub max_tokens: Option<u64>,
    pub stream: bool,
}

/// Why a generation ended, in vendor-neutral terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    Stop,
    Length,
    ContentFilter,
}

/// What a vendor should do with a chat request.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Answer with these words (already truncated to `max_tokens`).
    Reply { words: Vec<String>, finish: Finish },
    /// The prompt is "too long" for the model.
    ContextLength,
}

impl Chat {
    /// The last message with role `user` (or empty).
    pub fn last_user(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|(role, _)| role == "user")
            .map_or("", |(_, text)| text.as_str())
    }

    /// Input tokens: ceil(chars / 4) over the system text and every message.
    pub fn input_tokens(&self) -> u64 {
        let chars = self.system.chars().count()
            + self
                .messages
                .iter()
                .map(|(_, text)| text.chars().count())
                .sum::<usize>();
        approx_tokens_for_chars(chars)
    }

    /// Decide the reply for this request.
    pub fn outcome(&self) -> Outcome {
        self.outcome_with(true)
    }

    /// Decide the reply; `content_filter: false` for vendors without a content filter.
    pub fn outcome_with(&self, content_filter: bool) -> Outcome {
        let last = self.last_user();
        if last.contains(CONTEXT_LENGTH_TRIGGER) {
            return Outcome::ContextLength;
        }
        if content_filter && last.contains(CONTENT_FILTER_TRIGGER) {
            return Outcome::Reply {
                words: Vec::new(),
                finish: Finish::ContentFilter,
            };
        }
        let mut words = reply_words(last, &self.model);
        let mut finish = Finish::Stop;
        if let Some(max) = self.max_tokens {
            let max = usize::try_from(max).unwrap_or(usize::MAX);
            if words.len() > max {
                words.truncate(max);
                finish = Finish::Length;
            }
        }
        Outcome::Reply { words, finish }
    }
}

/// ceil(chars / 4).
pub(crate) fn approx_tokens_for_chars(chars: usize) -> u64 {
    u64::try_from(chars.div_ceil(4)).unwrap_or(u64::MAX)
}

/// Tokens of one embedding input.
pub(crate) fn approx_tokens(text: &str) -> u64 {
    approx_tokens_for_chars(text.chars().count())
}

/// The full (untruncated) reply for a user message, as words.
pub(crate) fn reply_words(user: &str, model: &str) -> Vec<String> {
    let echoed: Vec<&str> = user
        .split_whitespace()
        .filter(|w| *w != CONTEXT_LENGTH_TRIGGER && *w != CONTENT_FILTER_TRIGGER)
        .take(ECHO_WORDS)
        .collect();
    let mut words: Vec<String> = Vec::with_capacity(echoed.len() + 10);
    if echoed.is_empty() {
        words.push("Hello!".to_owned());
    } else {
        words.push("Sure!".to_owned());
        words.push("You".to_owned());
        words.push("said:".to_owned());
        let last = echoed.len() - 1;
        for (i, w) in echoed.iter().enumerate() {
            if i == last {
                words.push(format!("{}.", w.trim_end_matches(['.', '!', '?'])));
            } else {
                words.push((*w).to_owned());
            }
        }
    }
    for w in ["Let's", "keep", "practising", "with"] {
        words.push(w.to_owned());
    }
    let model = if model.is_empty() {
        "the simulator"
    } else {
        model
    };
    words.push(format!("{model}."));
    words
}

/// The streamed pieces of a reply: the first word bare, every later one with a leading space,
/// so that concatenating the pieces gives exactly [`join`] of the words.
pub(crate) fn pieces(words: &[String]) -> Vec<String> {
    words
        .iter()
        .enumerate()
        .map(|(i, w)| if i == 0 { w.clone() } else { format!(" {w}") })
        .collect()
}

/// The reply text.
pub(crate) fn join(words: &[String]) -> String {
    words.join(" ")
}

/// Concatenated text of a message `content` in any of the vendors' shapes: a string, a list of
/// parts/blocks with `text` fields, or one object with a `text` field.
pub(crate) fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            let mut out = String::new();
            for part in parts {
                match part {
                    Value::String(s) => out.push_str(s),
                    Value::Object(map) => {
                        if let Some(Value::String(t)) = map.get("text") {
                            out.push_str(t);
                        }
                    }
                    _ => {}
                }
            }
            out
        }
        Value::Object(map) => match map.get("text") {
            Some(Value::String(t)) => t.clone(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

/// FNV-1a 64: a stable hash (std's `DefaultHasher` is not promised stable across releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// splitmix64 step.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A deterministic unit-length embedding of `text` with `dims` dimensions.
pub(crate) fn embedding(text: &str, dims: usize) -> Vec<f32> {
    let mut state = fnv1a(text.as_bytes());
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            // 24 random bits → [-1, 1).
            let bits = (splitmix(&mut state) >> 40) as u32;
            (bits as f32 / (1u32 << 23) as f32) - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x /= norm;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_is_stable_and_readable() {
        let w = reply_words("I would like a coffee, please.", "gpt-4o");
        assert_eq!(
            join(&w),
            "Sure! You said: I would like a coffee, please. Let's keep practising with gpt-4o."
        );
        assert_eq!(pieces(&w).concat(), join(&w));
    }

    #[test]
    fn echo_is_capped_at_twelve_words() {
        let w = reply_words("a b c d e f g h i j k l m n o", "m");
        assert_eq!(w.len(), 3 + 12 + 5);
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let a = embedding("hello", 64);
        assert_eq!(a, embedding("hello", 64));
        assert_ne!(a, embedding("hellp", 64));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }

    #[test]
    fn truncation_reports_length() {
        let chat = Chat {
            model: "m".into(),
            messages: vec![("user".into(), "hello there".into())],
            max_tokens: Some(3),
            ..Chat::default()
        };
        match chat.outcome() {
            Outcome::Reply { words, finish } => {
                assert_eq!(words.len(), 3);
                assert_eq!(finish, Finish::Length);
            }
            Outcome::ContextLength => panic!("unexpected"),
        }
    }
}
