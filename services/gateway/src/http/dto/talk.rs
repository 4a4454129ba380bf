//! The app API's shapes (`/api/talk/*`).

use super::{non_empty, rfc3339, usd};
use fluentedge_proto::conversation::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A CEFR level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Level {
    #[serde(alias = "a1")]
    A1,
    #[serde(alias = "a2")]
    A2,
    #[serde(alias = "b1")]
    B1,
    #[serde(alias = "b2")]
    B2,
    #[serde(alias = "c1")]
    C1,
    #[serde(alias = "c2")]
    C2,
}

impl Level {
    pub fn to_proto(self) -> pb::CefrLevel {
        match self {
            Self::A1 => pb::CefrLevel::A1,
            Self::A2 => pb::CefrLevel::A2,
            Self::B1 => pb::CefrLevel::B1,
            Self::B2 => pb::CefrLevel::B2,
            Self::C1 => pb::CefrLevel::C1,
            Self::C2 => pb::CefrLevel::C2,
        }
    }

    pub fn from_proto(level: i32) -> Option<Self> {
        match pb::CefrLevel::try_from(level).ok()? {
            pb::CefrLevel::A1 => Some(Self::A1),
            pb::CefrLevel::A2 => Some(Self::A2),
            pb::CefrLevel::B1 => Some(Self::B1),
            pb::CefrLevel::B2 => Some(Self::B2),
            pb::CefrLevel::C1 => Some(Self::C1),
            pb::CefrLevel::C2 => Some(Self::C2),
            pb::CefrLevel::Unspecified => None,
        }
    }
}

fn level_proto(level: Option<Level>) -> i32 {
    level.map_or(pb::CefrLevel::Unspecified, Level::to_proto) as i32
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendMessageBody {
    #[schema(format = Uuid)]
    pub session_id: String,
    /// The learner's text (1 to 4000 characters, not only whitespace; no
    /// control characters other than tab, line feed and carriage return).
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub content: String,
    /// Idempotency key chosen by the client (e.g. a UUID): retrying with the
    /// same id never makes a second exchange.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub client_message_id: Option<String>,
}

impl SendMessageBody {
    pub fn into_proto(self) -> pb::SendMessageRequest {
        pb::SendMessageRequest {
            session_id: self.session_id,
            content: self.content,
            client_message_id: self.client_message_id.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageDto {
    pub id: String,
    pub session_id: String,
    /// `learner` or `tutor`.
    pub role: &'static str,
    pub content: String,
    /// `completed`, `pending`, `failed` or `partial`.
    pub status: &'static str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micro_usd: i64,
    /// The same cost as a decimal USD string.
    pub cost_usd: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// The router call id of a tutor reply (its usage record's key).
    pub call_id: Option<String>,
    pub created_at: Option<String>,
    pub client_message_id: Option<String>,
}

impl From<pb::Message> for MessageDto {
    fn from(m: pb::Message) -> Self {
        let role = match m.role() {
            pb::MessageRole::Learner => "learner",
            pb::MessageRole::Tutor => "tutor",
            pb::MessageRole::Unspecified => "unspecified",
        };
        let status = match m.status() {
            pb::MessageStatus::Completed => "completed",
            pb::MessageStatus::Pending => "pending",
            pb::MessageStatus::Failed => "failed",
            pb::MessageStatus::Partial => "partial",
            pb::MessageStatus::Unspecified => "unspecified",
        };
        Self {
            created_at: rfc3339(m.created_at.as_ref()),
            id: m.id,
            session_id: m.session_id,
            role,
            content: m.content,
            status,
            input_tokens: m.input_tokens,
            output_tokens: m.output_tokens,
            cost_micro_usd: m.cost_micro_usd,
            cost_usd: usd(m.cost_micro_usd),
            provider: non_empty(m.provider),
            model: non_empty(m.model),
            call_id: non_empty(m.call_id),
            client_message_id: non_empty(m.client_message_id),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SendMessageReply {
    pub learner_message: Option<MessageDto>,
    pub tutor_message: Option<MessageDto>,
}

impl From<pb::SendMessageResponse> for SendMessageReply {
    fn from(r: pb::SendMessageResponse) -> Self {
        Self {
            learner_message: r.learner_message.map(Into::into),
            tutor_message: r.tutor_message.map(Into::into),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScenarioDto {
    pub id: String,
    pub title: String,
    pub description: String,
    /// `everyday` or `work`.
    pub category: String,
    pub tutor_role: String,
    pub goals: Vec<String>,
    pub opening_line: String,
}

impl From<pb::Scenario> for ScenarioDto {
    fn from(s: pb::Scenario) -> Self {
        Self {
            id: s.id,
            title: s.title,
            description: s.description,
            category: s.category,
            tutor_role: s.tutor_role,
            goals: s.goals,
            opening_line: s.opening_line,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScenarioList {
    pub scenarios: Vec<ScenarioDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    pub id: String,
    pub scenario_id: String,
    pub level: Option<Level>,
    pub title: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub archived: bool,
    pub message_count: u32,
}

impl From<pb::Session> for SessionDto {
    fn from(s: pb::Session) -> Self {
        Self {
            level: Level::from_proto(s.level),
            created_at: rfc3339(s.created_at.as_ref()),
            updated_at: rfc3339(s.updated_at.as_ref()),
            id: s.id,
            scenario_id: s.scenario_id,
            title: s.title,
            archived: s.archived,
            message_count: s.message_count,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSessionBody {
    /// true archives the session, false unarchives it; absent changes nothing.
    #[serde(default)]
    pub archived: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateSessionBody {
    /// A scenario id from `GET /api/talk/scenarios`.
    pub scenario_id: String,
    /// Absent: the learner's profile level, else B1.
    #[serde(default)]
    pub level: Option<Level>,
    /// Absent: the scenario's title. At most 200 characters, no control characters.
    #[serde(default)]
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub title: Option<String>,
}

impl CreateSessionBody {
    pub fn into_proto(self) -> pb::CreateSessionRequest {
        pb::CreateSessionRequest {
            scenario_id: self.scenario_id,
            level: level_proto(self.level),
            title: self.title.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListSessionsQuery {
    /// 1 to 100 (default 20; 0 also means the default).
    #[param(maximum = 100)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
    pub include_archived: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPage {
    pub sessions: Vec<SessionDto>,
    /// Absent on the last page.
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListMessagesQuery {
    /// 1 to 200 (default 50; 0 also means the default).
    #[param(maximum = 200)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    /// Oldest first.
    pub messages: Vec<MessageDto>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileDto {
    pub learner_id: String,
    pub display_name: String,
    pub level: Option<Level>,
    /// BCP 47 tag, e.g. `ja`.
    pub native_language: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl From<pb::Profile> for ProfileDto {
    fn from(p: pb::Profile) -> Self {
        Self {
            level: Level::from_proto(p.level),
            created_at: rfc3339(p.created_at.as_ref()),
            updated_at: rfc3339(p.updated_at.as_ref()),
            learner_id: p.learner_id,
            display_name: p.display_name,
            native_language: p.native_language,
        }
    }
}

/// Fields left out are left unchanged.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateProfileBody {
    /// At most 100 characters, no control characters.
    #[serde(default)]
    #[schema(max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub level: Option<Level>,
    /// A BCP 47 tag (`ja`, `pt-BR`), or empty to clear it.
    #[serde(default)]
    #[schema(max_length = 35, pattern = "^([A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*)?$")]
    pub native_language: Option<String>,
}

impl UpdateProfileBody {
    pub fn into_proto(self) -> pb::UpdateProfileRequest {
        pb::UpdateProfileRequest {
            display_name: self.display_name,
            level: level_proto(self.level),
            native_language: self.native_language,
        }
    }
}

/// The data of an SSE `error` event on `POST /api/talk/message`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamErrorEvent {
    pub error: super::ErrorDetail,
    /// The tutor message as stored (status `failed` or `partial`), if any.
    pub tutor_message: Option<MessageDto>,
}
