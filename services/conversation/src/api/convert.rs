//! Domain records ⇄ protobuf messages.

use crate::domain::{CefrLevel, Learner, Message, MessageRole, MessageStatus, Scenario, Session};
use crate::service::Error;
use chrono::{DateTime, Utc};
use fluentedge_proto::conversation::v1 as pb;

pub fn timestamp(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    })
}

/// A level from a request: UNSPECIFIED is `None`; an unknown number is an error.
pub fn level_from(value: i32) -> Result<Option<CefrLevel>, Error> {
    match pb::CefrLevel::try_from(value) {
        Ok(pb::CefrLevel::Unspecified) => Ok(None),
        Ok(pb::CefrLevel::A1) => Ok(Some(CefrLevel::A1)),
        Ok(pb::CefrLevel::A2) => Ok(Some(CefrLevel::A2)),
        Ok(pb::CefrLevel::B1) => Ok(Some(CefrLevel::B1)),
        Ok(pb::CefrLevel::B2) => Ok(Some(CefrLevel::B2)),
        Ok(pb::CefrLevel::C1) => Ok(Some(CefrLevel::C1)),
        Ok(pb::CefrLevel::C2) => Ok(Some(CefrLevel::C2)),
        Err(_) => Err(Error::Invalid(format!(
            "level {value} is not a CEFR level (1 = A1 … 6 = C2)"
        ))),
    }
}

pub fn level_to(level: Option<CefrLevel>) -> i32 {
    let l = match level {
        None => pb::CefrLevel::Unspecified,
        Some(CefrLevel::A1) => pb::CefrLevel::A1,
        Some(CefrLevel::A2) => pb::CefrLevel::A2,
        Some(CefrLevel::B1) => pb::CefrLevel::B1,
        Some(CefrLevel::B2) => pb::CefrLevel::B2,
        Some(CefrLevel::C1) => pb::CefrLevel::C1,
        Some(CefrLevel::C2) => pb::CefrLevel::C2,
    };
    l as i32
}

pub fn scenario(s: &Scenario) -> pb::Scenario {
    pb::Scenario {
        id: s.id.clone(),
        title: s.title.clone(),
        description: s.description.clone(),
        category: s.category.clone(),
        tutor_role: s.tutor_role.clone(),
        goals: s.goals.clone(),
        opening_line: s.opening_line.clone(),
    }
}

pub fn profile(l: Learner) -> pb::Profile {
    pb::Profile {
        learner_id: l.id,
        display_name: l.display_name,
        level: level_to(l.level),
        native_language: l.native_language,
        created_at: timestamp(l.created_at),
        updated_at: timestamp(l.updated_at),
    }
}

pub fn session(s: Session) -> pb::Session {
    pb::Session {
        id: s.id.to_string(),
        scenario_id: s.scenario_id,
        level: level_to(Some(s.level)),
        title: s.title,
        created_at: timestamp(s.created_at),
        updated_at: timestamp(s.updated_at),
        archived: s.archived,
        message_count: s.message_count,
    }
}

pub fn message(m: Message) -> pb::Message {
    let role = match m.role {
        MessageRole::Learner => pb::MessageRole::Learner,
        MessageRole::Tutor => pb::MessageRole::Tutor,
    };
    let status = match m.status {
        MessageStatus::Completed => pb::MessageStatus::Completed,
        MessageStatus::Pending => pb::MessageStatus::Pending,
        MessageStatus::Failed => pb::MessageStatus::Failed,
        MessageStatus::Partial => pb::MessageStatus::Partial,
    };
    pb::Message {
        id: m.id.to_string(),
        session_id: m.session_id.to_string(),
        role: role as i32,
        content: m.content,
        status: status as i32,
        input_tokens: m.usage.input_tokens,
        output_tokens: m.usage.output_tokens,
        cost_micro_usd: m.usage.cost_micro_usd,
        provider: m.provider,
        model: m.model,
        call_id: m.call_id,
        created_at: timestamp(m.created_at),
        client_message_id: m.client_message_id.unwrap_or_default(),
    }
}
