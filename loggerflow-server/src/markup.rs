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
    fn cuts_keep_characters_whole() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abcd", 4), "abcd");
        assert_eq!(cut("ééééé", 3), "éé…");
        assert_eq!(cut_bytes("ééé", 3), "é…");
        assert_eq!(cut_bytes("abc", 3), "abc");
    }
}
