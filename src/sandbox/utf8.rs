//! Turning pipe reads into UTF-8 text chunks. A read can end in the middle
//! of a multibyte character; the tail is held back until the next read so
//! streamed chunks never contain a spurious replacement character.

/// Incremental, lossy UTF-8 decoder for one stream.
#[derive(Default)]
pub(crate) struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// Decodes `bytes` after whatever was held back; returns the complete
    /// text so far and keeps an incomplete trailing character for later.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let keep = incomplete_tail(&self.pending);
        let split = self.pending.len() - keep;
        let text = String::from_utf8_lossy(&self.pending[..split]).into_owned();
        self.pending.drain(..split);
        text
    }

    /// End of stream: whatever is left is decoded (lossily) as is.
    pub(crate) fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}

/// Length of a trailing, possibly valid but incomplete UTF-8 sequence (0-3).
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte: look further back
        }
        let needed = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

/// Largest prefix of `s` that is at most `max` bytes and ends on a char boundary.
pub(crate) fn truncate_at_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_multibyte_characters_are_reassembled() {
        let text = "aé€😀z";
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut s = Utf8Stream::default();
            let mut out = s.push(&bytes[..cut]);
            out += &s.push(&bytes[cut..]);
            out += &s.finish();
            assert_eq!(out, text, "cut at {cut}");
        }
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut s = Utf8Stream::default();
        let mut out = s.push(b"a\xffb\xe2\x82");
        out += &s.finish();
        assert_eq!(out, "a\u{fffd}b\u{fffd}");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_at_boundary("aé", 2), "a");
        assert_eq!(truncate_at_boundary("aé", 3), "aé");
    }
}
