//! Text made safe for the markups the server writes: HTML and XML (badges,
//! e-mail) and Slack's mrkdwn. Every value that comes from an app (a title,
//! a project name) goes through one of these.

/// Text as HTML or XML character data or attribute value.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text for a Slack text object: `&`, `<` and `>` are Slack's control
/// characters (links, mentions such as `<!channel>`), sent as entities.
pub fn slack(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text for Discord's markdown: every character that formats (`*`, `_`,
/// `~`, `` ` ``, `|`, `>`, `#`, `-`, `[`, `]`, `(`, `)`, `<`, `@`, `\\`) is
/// escaped with a backslash, so an app's title cannot make a masked link or
/// a spoiler; mentions are off in the request itself.
pub fn discord(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if "\\*_~`|>#-[]()<@".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `text` with its control characters (but line breaks and tabs) and its
/// invisible formatting characters (bidirectional overrides, zero-width
/// ones: [`crate::names::is_invisible`]) each replaced by `�`: what an app
/// sends cannot reorder or hide a message's text, nor swell its JSON
/// (`\u0001` is six bytes).
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if (c.is_control() && c != '\n' && c != '\t') || crate::names::is_invisible(c) {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// The longest prefix of `text` (cut with `…`) whose `escape`d form has at
/// most `max` characters, escaped: no entity is cut in half, and a text that
/// escaping lengthens still keeps as much as fits.
pub fn fit(text: &str, max: usize, escape: impl Fn(&str) -> String) -> String {
    let whole = escape(text);
    if whole.chars().count() <= max {
        return whole;
    }
    // the number of characters kept: the largest that fits
    let (mut low, mut high) = (0usize, text.chars().count().min(max));
    while low < high {
        let mid = (low + high).div_ceil(2);
        if escape(&cut(text, mid)).chars().count() <= max {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    escape(&cut(text, low.max(1)))
}

/// `text` cut to at most `max` characters, with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((end, _)) if text[end..].chars().count() > 1 => format!("{}…", &text[..end]),
        _ => text.to_owned(),
    }
}

/// `text` cut to at most `max` bytes at a character boundary, with `…`
/// when cut (the result is at most `max + 3` bytes).
pub fn cut_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            html(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            slack("<!channel> & <http://evil|x> *b*"),
            "&lt;!channel&gt; &amp; &lt;http://evil|x&gt; *b*"
        );
    }

    #[test]
    fn discord_markdown_is_escaped() {
        assert_eq!(
            discord("[x](http://evil) *b* ||s|| @everyone"),
            "\\[x\\]\\(http://evil\\) \\*b\\* \\|\\|s\\|\\| \\@everyone"
        );
    }

    #[test]
    fn a_fit_keeps_as_much_as_its_escaped_form_allows() {
        let amps = "&".repeat(5000);
        let fitted = fit(&amps, 3000, slack);
        assert!(fitted.chars().count() <= 3000, "{}", fitted.len());
        assert!(fitted.len() > 2900, "keeps what fits, not just `…`");
        assert!(fitted.ends_with("&amp;…"), "no entity cut in half");
        assert_eq!(fit("short & sweet", 3000, slack), "short &amp; sweet");
    }

    #[test]
    fn control_and_invisible_characters_become_visible() {
        assert_eq!(
            printable("a\u{1}b\u{202e}c\nd\te"),
            "a\u{FFFD}b\u{FFFD}c\nd\te"
        );
    }

    #[test]
    fn cuts_keep_characters_whole() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abcd", 4), "abcd");
        assert_eq!(cut("ééééé", 3), "éé…");
        assert_eq!(cut_bytes("ééé", 3), "é…");
        assert_eq!(cut_bytes("abc", 3), "abc");
    }
}
