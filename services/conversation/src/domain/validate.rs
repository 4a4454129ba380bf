//! Input rules. Each failure says what is wrong, for an INVALID_ARGUMENT.

/// Longest learner message, in characters.
pub const MAX_CONTENT_CHARS: usize = 4000;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;
pub const MAX_CLIENT_MESSAGE_ID_CHARS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

/// A learner's message: 1 to 4000 characters, not only whitespace.
pub fn content(text: &str) -> Result<(), Invalid> {
    let chars = text.chars().count();
    if text.trim().is_empty() {
        return Err(invalid("content must not be empty"));
    }
    if chars > MAX_CONTENT_CHARS {
        return Err(invalid(format!(
            "content is {chars} characters; the limit is {MAX_CONTENT_CHARS}"
        )));
    }
    if let Some(c) = service_kit::text::disallowed_control(text) {
        return Err(invalid(format!(
            "content contains the control character U+{:04X}, which is not allowed",
            c as u32
        )));
    }
    Ok(())
}

/// A client's idempotency key: 1 to 128 of `[A-Za-z0-9._:-]` (a UUID fits).
pub fn client_message_id(id: &str) -> Result<(), Invalid> {
    let ok = !id.is_empty()
        && id.len() <= MAX_CLIENT_MESSAGE_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "client_message_id must be 1 to {MAX_CLIENT_MESSAGE_ID_CHARS} characters of \
             letters, digits, '-', '_', '.', ':' (e.g. a UUID)"
        )))
    }
}

pub fn title(text: &str) -> Result<(), Invalid> {
    let chars = text.chars().count();
    if chars > MAX_TITLE_CHARS {
        return Err(invalid(format!(
            "title is {chars} characters; the limit is {MAX_TITLE_CHARS}"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid("title must not contain control characters"));
    }
    Ok(())
}

pub fn display_name(text: &str) -> Result<(), Invalid> {
    let chars = text.chars().count();
    if chars > MAX_DISPLAY_NAME_CHARS {
        return Err(invalid(format!(
            "display_name is {chars} characters; the limit is {MAX_DISPLAY_NAME_CHARS}"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid("display_name must not contain control characters"));
    }
    Ok(())
}

/// A BCP 47 language tag in its common shape (`ja`, `pt-BR`, `zh-Hant-TW`), or
/// empty to clear it.
pub fn native_language(tag: &str) -> Result<(), Invalid> {
    if tag.is_empty() {
        return Ok(());
    }
    let mut parts = tag.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if primary_ok && rest_ok && tag.len() <= 35 {
        Ok(())
    } else {
        Err(invalid(format!(
            "native_language {tag:?} is not a BCP 47 language tag (e.g. \"ja\", \"pt-BR\")"
        )))
    }
}

/// A page size: 0 means `default`, above `max` is an error.
pub fn page_size(requested: u32, default: u32, max: u32) -> Result<u32, Invalid> {
    match requested {
        0 => Ok(default),
        n if n <= max => Ok(n),
        n => Err(invalid(format!(
            "page_size {n} is too large: at most {max}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_bounds() {
        assert!(content("Hi").is_ok());
        assert!(content("").is_err());
        assert!(content("   \n").is_err());
        assert!(content(&"é".repeat(MAX_CONTENT_CHARS)).is_ok());
        assert!(content("two\nlines\tok").is_ok());
        assert!(content("nul\0").unwrap_err().0.contains("U+0000"));
        let err = content(&"a".repeat(MAX_CONTENT_CHARS + 1)).unwrap_err();
        assert!(err.0.contains("4001"), "{err}");
    }

    #[test]
    fn client_message_ids() {
        assert!(client_message_id("3f2a9c1e-0000-4000-8000-000000000001").is_ok());
        assert!(client_message_id("").is_err());
        assert!(client_message_id("has space").is_err());
        assert!(client_message_id(&"a".repeat(129)).is_err());
    }

    #[test]
    fn language_tags() {
        for ok in ["", "ja", "en", "pt-BR", "zh-Hant-TW", "es-419"] {
            assert!(native_language(ok).is_ok(), "{ok}");
        }
        for bad in ["j", "ja_JP", "12", "ja--JP", "ja-", "日本語"] {
            assert!(native_language(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(0, 20, 100), Ok(20));
        assert_eq!(page_size(1, 20, 100), Ok(1));
        assert_eq!(page_size(100, 20, 100), Ok(100));
        assert!(page_size(101, 20, 100).is_err());
    }

    #[test]
    fn titles_and_names() {
        assert!(title("").is_ok());
        assert!(title(&"t".repeat(201)).is_err());
        assert!(title("a\u{0}b").is_err());
        assert!(display_name("Aiko").is_ok());
        assert!(display_name(&"n".repeat(101)).is_err());
    }
}
