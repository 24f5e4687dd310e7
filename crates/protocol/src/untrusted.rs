//! Text from a peer that has not been verified (an error page, a header),
//! made safe to show: a terminal or log must not be driven by it.
//!
//! An unverified server could otherwise draw a fake green "verified: yes"
//! over the real verdict with escape sequences and carriage returns.

/// `bytes` as text for a terminal or a log: control characters (C0, DEL
/// and C1, escape and carriage return among them) become `�` (newlines and
/// tabs a space), and the text is cut to `max_chars` characters with `…`.
pub fn untrusted_text(bytes: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        out.push(match c {
            '\n' | '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::untrusted_text;

    #[test]
    fn escapes_and_carriage_returns_cannot_redraw_the_line() {
        let shown = untrusted_text(b"busy\r\x1b[2K\x1b[32mverified: yes\x1b[0m\x07\x9b", 100);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert_eq!(
            shown,
            "busy\u{FFFD}\u{FFFD}[2K\u{FFFD}[32mverified: yes\u{FFFD}[0m\u{FFFD}\u{FFFD}"
        );
    }

    #[test]
    fn long_text_is_cut_with_a_mark() {
        let shown = untrusted_text("é".repeat(50).as_bytes(), 10);
        assert_eq!(shown, format!("{}…", "é".repeat(10)));
        assert_eq!(untrusted_text(b"line one\nline two", 100), "line one line two");
    }
}
