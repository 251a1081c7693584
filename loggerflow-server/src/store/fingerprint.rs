//! Grouping: which reports are "the same error".
//!
//! A fingerprint is the kind, the error type, the message's first line with
//! numbers, hex and UUIDs masked, and the innermost frame of the app's own
//! code (its function, not its line, which moves with every edit); without
//! a stack, the place the event was raised (file and module).

use loggerflow_layer::{Report, ReportKind};

/// The longest fingerprint stored; longer ones are cut (they are still unique
/// enough: the frame comes first).
const LONGEST: usize = 512;

/// The fingerprint of `report`.
pub fn fingerprint(report: &Report) -> String {
    let kind = match report.kind {
        ReportKind::Panic => "panic",
        ReportKind::Event => "event",
        // a kind this server does not know yet groups with the events
        _ => "event",
    };
    let place = match report.innermost_yours() {
        Some(frame) => strip_closure_suffixes(&frame.function).to_owned(),
        None => format!(
            "{}@{}",
            report.module.as_deref().unwrap_or(&report.target),
            report.file.as_deref().unwrap_or("")
        ),
    };
    let error_type = report
        .error
        .as_ref()
        .map(|e| e.type_name.as_str())
        .unwrap_or("");
    let message = report.message.lines().next().unwrap_or_default();
    let mut key = format!("{kind}|{place}|{error_type}|{}", mask(message));
    if key.len() > LONGEST {
        let mut cut = LONGEST;
        while !key.is_char_boundary(cut) {
            cut -= 1;
        }
        key.truncate(cut);
    }
    key
}

/// `my_app::run::{{closure}}::{{closure}}` → `my_app::run`.
fn strip_closure_suffixes(function: &str) -> &str {
    let mut f = function;
    while let Some(rest) = f.strip_suffix("::{{closure}}") {
        f = rest;
    }
    f
}

/// Masks what changes between occurrences of one error: UUIDs → `<uuid>`,
/// hex (`0x…`, or 8+ hex digits with a digit) → `<hex>`, numbers → `<n>`.
pub fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        // a token: a run of [0-9a-zA-Z_-]
        let word_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            .count();
        if word_len == 0 {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        out.push_str(&mask_word(&rest[..word_len]));
        i += word_len;
    }
    out
}

fn mask_word(word: &str) -> String {
    if is_uuid(word) {
        return "<uuid>".into();
    }
    let prefixed = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X"));
    if prefixed.is_some_and(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())) {
        return "<hex>".into();
    }
    if word.len() >= 8
        && word.bytes().all(|b| b.is_ascii_hexdigit())
        && word.bytes().any(|b| b.is_ascii_digit())
    {
        return "<hex>".into();
    }
    // digits inside a word (`user42`, `v2`) are masked as numbers too,
    // but identifiers such as `utf8` keep a stable shape
    let mut out = String::with_capacity(word.len());
    let mut in_number = false;
    for c in word.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push_str("<n>");
                in_number = true;
            }
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

fn is_uuid(word: &str) -> bool {
    let parts: Vec<&str> = word.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(len, part)| part.len() == *len && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_what_varies() {
        assert_eq!(mask("timeout after 250 ms"), "timeout after <n> ms");
        assert_eq!(mask("user 42 not found"), "user <n> not found");
        assert_eq!(mask("user42 failed"), "user<n> failed");
        assert_eq!(mask("ptr 0x7ffd5e8 bad"), "ptr <hex> bad");
        assert_eq!(mask("commit deadbeef12 failed"), "commit <hex> failed");
        assert_eq!(
            mask("order 0199a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b missing"),
            "order <uuid> missing"
        );
        assert_eq!(mask("deadline exceeded"), "deadline exceeded", "words stay");
        assert_eq!(mask("ünïcode 3 ok"), "ünïcode <n> ok");
        assert_eq!(mask("1.5s / 2,000 rows"), "<n>.<n>s / <n>,<n> rows");
    }

    fn report(message: &str, function: Option<&str>) -> Report {
        let mut report = Report::new("p", message);
        report.target = "app".into();
        report.module = Some("app::db".into());
        report.file = Some("src/db.rs".into());
        report.line = Some(10);
        report.frames = function
            .map(|f| {
                vec![loggerflow_layer::Frame {
                    function: f.into(),
                    file: Some("src/db.rs".into()),
                    line: Some(10),
                    yours: true,
                }]
            })
            .unwrap_or_default();
        report.thread = "main".into();
        report.host = "h".into();
        report
    }

    #[test]
    fn the_same_error_in_a_loop_is_one_group() {
        let a = fingerprint(&report(
            "query 17 timed out after 30 s",
            Some("app::db::query::{{closure}}"),
        ));
        let b = fingerprint(&report(
            "query 99 timed out after 31 s",
            Some("app::db::query"),
        ));
        assert_eq!(a, b);
        let elsewhere = fingerprint(&report(
            "query 17 timed out after 30 s",
            Some("app::api::list"),
        ));
        assert_ne!(a, elsewhere, "another place is another group");
        let other = fingerprint(&report("connection refused", Some("app::db::query")));
        assert_ne!(a, other, "another message is another group");
        let no_stack = fingerprint(&report("query 1 timed out after 2 s", None));
        assert_eq!(
            no_stack,
            "event|app::db@src/db.rs||query <n> timed out after <n> s"
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(1000);
        let f = fingerprint(&report(&long, None));
        assert!(f.len() <= LONGEST);
    }
}
