//! From generated token ids to text a client can be sent: incremental
//! decoding that never splits a UTF-8 character, and stop sequences that
//! are never sent, not even in part.

use crate::tokenizer::TextTokenizer;
use blindfold_engine::EngineError;

/// Turns a growing list of token ids into text pieces.
#[derive(Default)]
pub struct IncrementalDecoder {
    prefix_offset: usize,
    read_offset: usize,
}

impl IncrementalDecoder {
    /// The new text that `ids` (all generated so far) adds, or nothing if
    /// the last token ends inside a multi-byte character.
    pub fn next(&mut self, tokenizer: &TextTokenizer, ids: &[u32]) -> Result<String, EngineError> {
        let before = tokenizer.decode(&ids[self.prefix_offset..self.read_offset])?;
        let now = tokenizer.decode(&ids[self.prefix_offset..])?;
        if now.len() > before.len() && !now.ends_with('\u{FFFD}') && now.starts_with(&before) {
            let piece = now[before.len()..].to_string();
            self.prefix_offset = self.read_offset;
            self.read_offset = ids.len();
            Ok(piece)
        } else {
            Ok(String::new())
        }
    }
}

/// Holds back text that might be the start of a stop sequence.
pub struct StopMatcher {
    stops: Vec<String>,
    text: String,
    sent: usize,
}

/// What the matcher lets out after new text arrives.
#[derive(Debug, PartialEq, Eq)]
pub enum StopOutcome {
    /// Send this (possibly empty) text and go on.
    Continue(String),
    /// A stop sequence was found: send this text, then finish.
    Stopped(String),
}

impl StopMatcher {
    /// A matcher for `stops` (empty strings are ignored).
    pub fn new(stops: Vec<String>) -> Self {
        StopMatcher {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            text: String::new(),
            sent: 0,
        }
    }

    /// Adds `piece` and says what may be sent.
    pub fn push(&mut self, piece: &str) -> StopOutcome {
        let search_from = self.sent.saturating_sub(self.longest_stop());
        let search_from = floor_char_boundary(&self.text, search_from);
        self.text.push_str(piece);
        let found = self
            .stops
            .iter()
            .filter_map(|s| self.text[search_from..].find(s.as_str()).map(|i| search_from + i))
            .min();
        if let Some(at) = found {
            let out = self.text[self.sent.min(at)..at].to_string();
            self.sent = self.text.len();
            return StopOutcome::Stopped(out);
        }
        // Keep back the longest suffix that is a prefix of some stop.
        let mut hold = 0;
        for stop in &self.stops {
            for len in (1..stop.len()).rev() {
                if len <= self.text.len()
                    && stop.is_char_boundary(len)
                    && self.text.is_char_boundary(self.text.len() - len)
                    && self.text.ends_with(&stop[..len])
                {
                    hold = hold.max(len);
                    break;
                }
            }
        }
        let until = (self.text.len() - hold).max(self.sent);
        let out = self.text[self.sent..until].to_string();
        self.sent = until;
        StopOutcome::Continue(out)
    }

    /// Whatever was held back, at the end of generation.
    pub fn flush(&mut self) -> String {
        let out = self.text[self.sent..].to_string();
        self.sent = self.text.len();
        out
    }

    fn longest_stop(&self) -> usize {
        self.stops.iter().map(String::len).max().unwrap_or(0)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let mut m = StopMatcher::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = String::new();
        for p in pieces {
            match m.push(p) {
                StopOutcome::Continue(t) => out.push_str(&t),
                StopOutcome::Stopped(t) => {
                    out.push_str(&t);
                    return (out, true);
                }
            }
        }
        out.push_str(&m.flush());
        (out, false)
    }

    #[test]
    fn a_stop_split_across_pieces_is_never_sent() {
        assert_eq!(
            run(&["STOP"], &["hello S", "TO", "P world"]),
            ("hello ".into(), true)
        );
    }

    #[test]
    fn a_false_start_is_sent_in_the_end() {
        assert_eq!(run(&["STOP"], &["a ST", "OR", "Y"]), ("a STORY".into(), false));
    }

    #[test]
    fn multibyte_text_and_stops_keep_char_boundaries() {
        assert_eq!(run(&["é!"], &["caf", "é", "é", "!x"]), ("café".into(), true));
        assert_eq!(run(&["🙂"], &["日本", "語🙂"]), ("日本語".into(), true));
    }

    proptest::proptest! {
        #[test]
        fn output_is_the_text_up_to_the_first_stop(text in "[a-cé ]{0,40}", cut in proptest::collection::vec(0usize..40, 0..6)) {
            let stop = "bc";
            let mut pieces = Vec::new();
            let mut last = 0;
            let mut cuts: Vec<usize> = cut.into_iter().filter(|c| *c < text.len() && text.is_char_boundary(*c)).collect();
            cuts.sort();
            for c in cuts { pieces.push(&text[last..c]); last = c; }
            pieces.push(&text[last..]);
            let (out, stopped) = run(&[stop], &pieces);
            match text.find(stop) {
                Some(i) => { proptest::prop_assert!(stopped); proptest::prop_assert_eq!(out, &text[..i]); }
                None => { proptest::prop_assert!(!stopped); proptest::prop_assert_eq!(out, text); }
            }
        }
    }
}
