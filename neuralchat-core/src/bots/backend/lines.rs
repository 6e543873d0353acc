//! Splitting a byte stream into text lines, whatever the chunking.

use super::error::BackendError;

/// The longest line accepted; a server that sends more without a line
/// break is broken or hostile, and must not grow our memory.
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

/// An incremental line splitter. Lines end at LF, CRLF or a lone CR, even
/// when the CR and LF arrive in different chunks; UTF-8 characters may be
/// split across chunks too.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    /// The bytes of the line not yet ended.
    buf: Vec<u8>,
    /// The last line ended with CR: an LF right after it ends nothing.
    after_cr: bool,
}

impl Lines {
    /// Feeds a chunk; calls `each` with every line it completes (without
    /// its line ending).
    pub(crate) fn push(
        &mut self,
        chunk: &[u8],
        each: &mut dyn FnMut(&str) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        let mut rest = chunk;
        while !rest.is_empty() {
            if std::mem::take(&mut self.after_cr) {
                if let Some(after) = rest.strip_prefix(b"\n") {
                    rest = after;
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    let (line, tail) = rest.split_at(end);
                    self.extend(line)?;
                    self.after_cr = tail.first() == Some(&b'\r');
                    rest = tail.get(1..).unwrap_or_default();
                    self.emit(each)?;
                }
                None => {
                    self.extend(rest)?;
                    rest = &[];
                }
            }
        }
        Ok(())
    }

    /// Ends the input: a last line without a line ending is passed to `each`.
    pub(crate) fn finish(
        &mut self,
        each: &mut dyn FnMut(&str) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        self.after_cr = false;
        if self.buf.is_empty() {
            return Ok(());
        }
        self.emit(each)
    }

    fn extend(&mut self, bytes: &[u8]) -> Result<(), BackendError> {
        if self.buf.len() + bytes.len() > MAX_LINE_BYTES {
            return Err(BackendError::Malformed(format!(
                "a line longer than {MAX_LINE_BYTES} bytes"
            )));
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    fn emit(
        &mut self,
        each: &mut dyn FnMut(&str) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        let result = match std::str::from_utf8(&self.buf) {
            Ok(line) => each(line),
            Err(_) => Err(BackendError::Malformed("a line is not UTF-8".to_owned())),
        };
        self.buf.clear();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Result<Vec<String>, BackendError> {
        let mut lines = Lines::default();
        let mut out = Vec::new();
        let mut each = |line: &str| {
            out.push(line.to_owned());
            Ok(())
        };
        for chunk in chunks {
            lines.push(chunk, &mut each)?;
        }
        lines.finish(&mut each)?;
        Ok(out)
    }

    #[test]
    fn all_line_endings() {
        let got = split(&[b"a\nb\r\nc\rd\n\ne"]).unwrap();
        assert_eq!(got, ["a", "b", "c", "d", "", "e"]);
    }

    #[test]
    fn crlf_split_across_chunks_is_one_ending() {
        assert_eq!(split(&[b"a\r", b"\nb\r", b"\r\n"]).unwrap(), ["a", "b", ""]);
    }

    #[test]
    fn every_split_position_gives_the_same_lines() {
        let text = "один\r\ntwo\n\rthree\r\rfour\nпять".as_bytes();
        let whole = split(&[text]).unwrap();
        assert_eq!(whole, ["один", "two", "", "three", "", "four", "пять"]);
        for at in 0..=text.len() {
            let (a, b) = text.split_at(at);
            assert_eq!(split(&[a, b]).unwrap(), whole, "split at {at}");
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(split(&bytes).unwrap(), whole);
    }

    #[test]
    fn bad_utf8_and_endless_lines_are_malformed() {
        assert!(matches!(
            split(&[b"ok\n\xff\xfe\n"]),
            Err(BackendError::Malformed(_))
        ));
        let big = vec![b'x'; MAX_LINE_BYTES / 2 + 1];
        assert!(matches!(
            split(&[&big, &big]),
            Err(BackendError::Malformed(_))
        ));
        assert!(split(&[&big, b"\n", &big]).is_ok());
    }

    #[test]
    fn callback_errors_stop_the_split() {
        let mut lines = Lines::default();
        let mut seen = 0;
        let result = lines.push(b"a\nb\n", &mut |_| {
            seen += 1;
            Err(BackendError::Timeout)
        });
        assert_eq!(result, Err(BackendError::Timeout));
        assert_eq!(seen, 1);
    }
}
