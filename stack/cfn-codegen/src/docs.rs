//! Schema descriptions as doc comments that rustdoc and clippy read as plain text.
//!
//! The descriptions are loose Markdown written for the CloudFormation docs: `[text](url)` links,
//! bare URLs, ` ``code`` ` spans, `+` bullet lines and regexes with brackets. Left alone, rustdoc
//! would take `[a-z]` for an intra-doc link, a bare URL for a `bare_urls` warning and an indented
//! line for a doctest, and clippy would flag the bullets (`doc_lazy_continuation`). So: code spans
//! stay as they are, links become `text (<url>)`, bare URLs are wrapped in `<...>`, and brackets,
//! angle brackets, backslashes and line-leading Markdown markers are escaped. Bullet lines become
//! a proper list, set apart by blank lines.

/// Doc-comment lines (to be prefixed with `/// `) for `text`; empty if `text` is blank.
pub fn doc_lines(text: &str) -> Vec<String> {
    let text: String = text
        .replace("\r\n", "\n")
        .chars()
        .map(|c| match c {
            '\r' => '\n',
            '\t' => ' ',
            c => c,
        })
        .filter(|c| !is_bidi_control(*c))
        .collect();
    let mut lines = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    for line in text.split('\n').map(str::trim).chain([""]) {
        if !line.is_empty() {
            paragraph.push(line);
            continue;
        }
        // Bullet lines become a list set apart by blank lines, so that no text line continues
        // an item lazily; the other lines stay one paragraph.
        for group in paragraph.chunk_by(|a, b| bullet(a).is_some() == bullet(b).is_some()) {
            if !lines.is_empty() {
                lines.push(String::new());
            }
            if group.iter().all(|line| bullet(line).is_some()) {
                for item in group.iter().filter_map(|line| bullet(line)) {
                    lines.push(format!("- {}", escape_line_start(&escape_inline(item))));
                }
            } else {
                let escaped = escape_inline(&group.join("\n"));
                lines.extend(escaped.split('\n').map(|l| escape_line_start(l.trim())));
            }
        }
        paragraph.clear();
    }
    lines
}

/// The text of a `+ item`, `- item` or `* item` line.
fn bullet(line: &str) -> Option<&str> {
    let rest = line.strip_prefix(['+', '-', '*'])?;
    let item = rest.strip_prefix(' ')?.trim_start();
    (!item.is_empty()).then_some(item)
}

/// Characters rustc refuses in comments (`text_direction_codepoint_in_comment`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn escape_inline(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '`' {
            let n = run_len(&chars, i, '`');
            let end = closing_run(&chars, i + n, n).map_or(i + n, |close| close + n);
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        if c == '['
            && let Some((text, target, next)) = link(&chars, i)
        {
            out.push_str(&escape_inline(&text));
            out.push_str(" (");
            if target.starts_with("https://") || target.starts_with("http://") {
                out.push_str(&format!("<{target}>"));
            } else {
                out.push_str(&escape_inline(&target));
            }
            out.push(')');
            i = next;
            continue;
        }
        if is_url_start(&chars, i) {
            let end = url_end(&chars, i);
            out.push('<');
            out.extend(&chars[i..end]);
            out.push('>');
            i = end;
            continue;
        }
        if matches!(c, '[' | ']' | '<' | '>' | '\\') {
            out.push('\\');
        }
        out.push(c);
        i += 1;
    }
    out
}

fn run_len(chars: &[char], start: usize, c: char) -> usize {
    chars[start..].iter().take_while(|&&x| x == c).count()
}

/// The start of the next run of exactly `n` backticks at or after `from` (CommonMark code spans).
fn closing_run(chars: &[char], from: usize, n: usize) -> Option<usize> {
    let mut i = from;
    while i < chars.len() {
        if chars[i] == '`' {
            let len = run_len(chars, i, '`');
            if len == n {
                return Some(i);
            }
            i += len;
        } else {
            i += 1;
        }
    }
    None
}

/// `[text](target)` starting at `start`: the text, the target and the index after the `)`.
fn link(chars: &[char], start: usize) -> Option<(String, String, usize)> {
    let close = start + 1 + chars[start + 1..].iter().position(|&c| c == ']')?;
    let text: String = chars[start + 1..close].iter().collect();
    if text.contains('[') || chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let target_start = close + 2;
    let target_end = target_start + chars[target_start..].iter().position(|&c| c == ')')?;
    let target: String = chars[target_start..target_end].iter().collect();
    if target.is_empty() || target.contains(char::is_whitespace) {
        return None;
    }
    Some((text, target, target_end + 1))
}

fn is_url_start(chars: &[char], i: usize) -> bool {
    ["https://", "http://"].iter().any(|scheme| {
        let scheme: Vec<char> = scheme.chars().collect();
        chars.get(i..i + scheme.len()) == Some(&scheme[..])
    })
}

/// The end of a bare URL starting at `start`: up to whitespace or a delimiter, keeping balanced
/// parentheses and dropping trailing sentence punctuation.
fn url_end(chars: &[char], start: usize) -> usize {
    let mut depth = 0usize;
    let mut end = start;
    while end < chars.len() {
        match chars[end] {
            c if c.is_whitespace() => break,
            '<' | '>' | '"' | '`' | '[' | ']' => break,
            '(' => depth += 1,
            ')' if depth == 0 => break,
            ')' => depth -= 1,
            _ => {}
        }
        end += 1;
    }
    while end > start && matches!(chars[end - 1], '.' | ',' | ';' | ':' | '!' | '?' | '\'') {
        end -= 1;
    }
    end
}

/// Escapes what Markdown would read at the start of a line: bullets, ordered-list numbers,
/// headings and code fences.
fn escape_line_start(line: &str) -> String {
    let mut chars = line.chars();
    let first = chars.next();
    let second = chars.next();
    let marker = matches!(first, Some('+' | '-' | '*')) && matches!(second, None | Some(' '));
    if marker || line.starts_with('#') || line.starts_with("```") || line.starts_with("~~~") {
        return format!("\\{line}");
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 {
        let rest = &line[digits..];
        let mut rest_chars = rest.chars();
        if matches!(rest_chars.next(), Some('.' | ')'))
            && matches!(rest_chars.next(), None | Some(' '))
        {
            return format!("{}\\{}", &line[..digits], rest);
        }
    }
    line.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_become_text_and_autolink() {
        assert_eq!(
            doc_lines("see [Using variables](https://docs.aws.amazon.com/x.html)."),
            ["see Using variables (<https://docs.aws.amazon.com/x.html>)."]
        );
    }

    #[test]
    fn bare_urls_are_wrapped_without_trailing_punctuation() {
        assert_eq!(
            doc_lines("Go to https://example.com/a(b)c. Then"),
            ["Go to <https://example.com/a(b)c>. Then"]
        );
    }

    #[test]
    fn brackets_escaped_outside_code_only() {
        assert_eq!(
            doc_lines("match [a-z]+ or ``[A-Z]`` <tag>"),
            [r"match \[a-z\]+ or ``[A-Z]`` \<tag\>"]
        );
    }

    #[test]
    fn bullets_indentation_and_paragraphs() {
        assert_eq!(
            doc_lines("Types:\n  +  ``S`` - string\n + [x]\n    1. one\n\n\n # not a heading  \n+"),
            [
                "Types:",
                "",
                "- ``S`` - string",
                r"- \[x\]",
                "",
                r"1\. one",
                "",
                r"\# not a heading",
                r"\+"
            ]
        );
    }

    #[test]
    fn unmatched_backticks_stay_literal() {
        assert_eq!(doc_lines("a ``b` [c]"), [r"a ``b` \[c\]"]);
        assert!(doc_lines("  \n ").is_empty());
    }
}
