//! Rules for free text that crosses a service boundary.

/// The first character no text field may hold: control characters other than
/// tab, line feed and carriage return (NUL breaks PostgreSQL text, escape
/// sequences break terminals reading logs).
pub fn disallowed_control(text: &str) -> Option<char> {
    text.chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// Why `text` is not acceptable for `field` (at most `max_chars`, no
/// disallowed control characters), naming the field.
pub fn check_field(field: &str, text: &str, max_chars: usize) -> Result<(), String> {
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(format!(
            "{field}: {chars} characters; the limit is {max_chars}"
        ));
    }
    if let Some(c) = disallowed_control(text) {
        return Err(format!(
            "{field}: contains the control character U+{:04X}, which is not allowed",
            c as u32
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_other_than_whitespace_are_refused() {
        assert_eq!(disallowed_control("line\nnext\ttab\r"), None);
        assert_eq!(disallowed_control("a\0b"), Some('\0'));
        assert_eq!(disallowed_control("esc\u{1b}[31m"), Some('\u{1b}'));
        assert_eq!(disallowed_control("del\u{7f}"), Some('\u{7f}'));
        let err = check_field("reason", "x\0", 10).unwrap_err();
        assert!(err.contains("reason") && err.contains("U+0000"), "{err}");
        assert!(check_field("reason", &"é".repeat(10), 10).is_ok());
        assert!(
            check_field("reason", &"é".repeat(11), 10)
                .unwrap_err()
                .contains("limit is 10")
        );
    }
}
