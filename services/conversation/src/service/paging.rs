//! Opaque page tokens. A session-list token is the last session returned
//! (created_at, id); a message-list token is the session and the last seq
//! returned. Both are stable while new rows arrive: new sessions sort before
//! the first page, new messages after the last.

use crate::storage::SessionCursor;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use uuid::Uuid;

pub const SESSIONS_DEFAULT_PAGE: u32 = 20;
pub const SESSIONS_MAX_PAGE: u32 = 100;
pub const MESSAGES_DEFAULT_PAGE: u32 = 50;
pub const MESSAGES_MAX_PAGE: u32 = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("page_token is not valid for this request (use the next_page_token of the previous page)")]
pub struct BadToken;

fn encode(text: String) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

fn decode(token: &str) -> Result<String, BadToken> {
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| BadToken)?;
    String::from_utf8(bytes).map_err(|_| BadToken)
}

pub fn session_token(cursor: &SessionCursor) -> String {
    encode(format!(
        "s1:{}:{}",
        cursor.created_at.timestamp_micros(),
        cursor.id
    ))
}

/// `""` is the first page.
pub fn parse_session_token(token: &str) -> Result<Option<SessionCursor>, BadToken> {
    if token.is_empty() {
        return Ok(None);
    }
    let text = decode(token)?;
    let mut parts = text.splitn(3, ':');
    let (Some("s1"), Some(micros), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(BadToken);
    };
    let micros: i64 = micros.parse().map_err(|_| BadToken)?;
    Ok(Some(SessionCursor {
        created_at: DateTime::from_timestamp_micros(micros).ok_or(BadToken)?,
        id: Uuid::parse_str(id).map_err(|_| BadToken)?,
    }))
}

pub fn message_token(session_id: Uuid, last_seq: i64) -> String {
    encode(format!("m1:{session_id}:{last_seq}"))
}

/// The seq to continue after (`0` for the first page); a token of another
/// session is rejected.
pub fn parse_message_token(token: &str, session_id: Uuid) -> Result<i64, BadToken> {
    if token.is_empty() {
        return Ok(0);
    }
    let text = decode(token)?;
    let mut parts = text.splitn(3, ':');
    let (Some("m1"), Some(session), Some(seq)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(BadToken);
    };
    if Uuid::parse_str(session).map_err(|_| BadToken)? != session_id {
        return Err(BadToken);
    }
    let seq: i64 = seq.parse().map_err(|_| BadToken)?;
    if seq < 0 {
        return Err(BadToken);
    }
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn session_tokens_round_trip() {
        let c = SessionCursor {
            created_at: DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(parse_session_token(&session_token(&c)), Ok(Some(c)));
        assert_eq!(parse_session_token(""), Ok(None));
    }

    #[test]
    fn message_tokens_are_bound_to_their_session() {
        let s = Uuid::now_v7();
        assert_eq!(parse_message_token(&message_token(s, 42), s), Ok(42));
        assert_eq!(parse_message_token("", s), Ok(0));
        assert_eq!(
            parse_message_token(&message_token(s, 42), Uuid::now_v7()),
            Err(BadToken)
        );
    }

    #[test]
    fn garbage_is_rejected() {
        let s = Uuid::now_v7();
        for bad in [
            "x",
            "!!!",
            &encode("m1:nope:1".into()),
            &encode("s1:1:2".into()),
        ] {
            assert_eq!(parse_message_token(bad, s), Err(BadToken), "{bad}");
            assert!(parse_session_token(bad).is_err(), "{bad}");
        }
        let other_kind = message_token(s, 1);
        assert!(parse_session_token(&other_kind).is_err());
        assert_eq!(
            parse_message_token(&encode(format!("m1:{s}:-5")), s),
            Err(BadToken)
        );
    }
}
