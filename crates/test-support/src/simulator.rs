//! What the provider simulator answers, written from its documentation rather
//! than its code, so the tests of every crate check it against one oracle.

/// The simulator's reply to `text` (its documented deterministic answer).
pub fn expected_reply(text: &str, model: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let last = words.len() - 1;
    let echoed: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i == last {
                format!("{}.", w.trim_end_matches(['.', '!', '?']))
            } else {
                (*w).to_owned()
            }
        })
        .collect();
    format!(
        "Sure! You said: {} Let's keep practising with {model}.",
        echoed.join(" ")
    )
}
