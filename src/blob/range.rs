//! One-range `Range: bytes=…` requests (RFC 9110 §14.1.2).

/// An inclusive byte range within a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// What a `Range` header asks of a blob of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send everything (also for multi-range and other units, which
    /// RFC 9110 lets a server ignore).
    Full,
    Partial(ByteRange),
    Unsatisfiable,
}

impl ByteRange {
    pub fn byte_count(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn parse(header: Option<&str>, size: u64) -> RangeRequest {
        let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
            return RangeRequest::Full;
        };
        if spec.contains(',') {
            return RangeRequest::Full;
        }
        let Some((first, last)) = spec.trim().split_once('-') else {
            return RangeRequest::Full;
        };
        let (first, last) = (first.trim(), last.trim());
        let range = if first.is_empty() {
            // Suffix: the last N bytes.
            let Ok(n) = last.parse::<u64>() else {
                return RangeRequest::Full;
            };
            if n == 0 || size == 0 {
                return RangeRequest::Unsatisfiable;
            }
            ByteRange {
                start: size.saturating_sub(n),
                end: size - 1,
            }
        } else {
            let Ok(start) = first.parse::<u64>() else {
                return RangeRequest::Full;
            };
            let end = if last.is_empty() {
                size.saturating_sub(1)
            } else {
                match last.parse::<u64>() {
                    Ok(end) if end >= start => end.min(size.saturating_sub(1)),
                    _ => return RangeRequest::Full,
                }
            };
            if start >= size {
                return RangeRequest::Unsatisfiable;
            }
            ByteRange { start, end }
        };
        RangeRequest::Partial(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(start: u64, end: u64) -> RangeRequest {
        RangeRequest::Partial(ByteRange { start, end })
    }

    #[test]
    fn parses_ranges() {
        assert_eq!(ByteRange::parse(None, 10), RangeRequest::Full);
        assert_eq!(ByteRange::parse(Some("bytes=0-4"), 10), partial(0, 4));
        assert_eq!(ByteRange::parse(Some("bytes=5-"), 10), partial(5, 9));
        assert_eq!(ByteRange::parse(Some("bytes=-3"), 10), partial(7, 9));
        assert_eq!(ByteRange::parse(Some("bytes=-30"), 10), partial(0, 9));
        assert_eq!(ByteRange::parse(Some("bytes=2-100"), 10), partial(2, 9));
        assert_eq!(ByteRange::parse(Some("bytes=10-"), 10), RangeRequest::Unsatisfiable);
        assert_eq!(ByteRange::parse(Some("bytes=0-"), 0), RangeRequest::Unsatisfiable);
        assert_eq!(ByteRange::parse(Some("bytes=0-1,3-4"), 10), RangeRequest::Full);
        assert_eq!(ByteRange::parse(Some("items=0-1"), 10), RangeRequest::Full);
        assert_eq!(ByteRange::parse(Some("bytes=5-2"), 10), RangeRequest::Full);
    }
}
