//! Input lines read with a cap: a line longer than the limit is consumed to
//! its end and reported with its length, never held in memory (shared by
//! `version check` and `run`).

use std::io::{self, BufRead, Read};

/// One line of input, read with a cap.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// The line is in the buffer, without its line ending.
    Read,
    /// The line was longer than the limit; it was read to its end and
    /// dropped. Its length, without the line ending.
    TooLong(u64),
    /// No more input.
    End,
}

/// Reads one line into `buf` (cleared first), holding at most `limit + 2`
/// bytes: a longer line is consumed to its end without being kept.
pub(crate) fn read_line(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<Line> {
    buf.clear();
    // The limit, plus room for a `\r\n` line ending.
    let read = input
        .by_ref()
        .take(limit as u64 + 2)
        .read_until(b'\n', buf)?;
    if read == 0 {
        return Ok(Line::End);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        if buf.len() > limit {
            let length = buf.len() as u64;
            buf.clear();
            return Ok(Line::TooLong(length));
        }
        return Ok(Line::Read);
    }
    if buf.len() <= limit {
        // The last line, without a line ending.
        return Ok(Line::Read);
    }
    let mut length = buf.len() as u64;
    buf.clear();
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            return Ok(Line::TooLong(length));
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(end) => {
                length += end as u64;
                input.consume(end + 1);
                return Ok(Line::TooLong(length));
            }
            None => {
                let all = available.len();
                length += all as u64;
                input.consume(all);
            }
        }
    }
}
