//! idtimestamps: DataTrails' snowflake ids. The top 40 bits are milliseconds since the
//! start of the commitment epoch, the low 24 a sequence; the API shows them as 18 hex
//! digits, the epoch byte first.

use chrono::{DateTime, TimeZone, Utc};

/// The commitment epoch attachd writes: epoch 1 runs from 2004-11-03 to 2039-09-07.
pub const EPOCH: u8 = 1;
const TIME_SHIFT: u32 = 24;
/// Milliseconds per epoch (2^40 − 1, as DataTrails counts).
const EPOCH_MS: i64 = (1 << 40) - 1;

/// The next idtimestamp of a log whose last one is `last`: from the clock, and always
/// later than `last`, so a log's ids only grow even if the clock steps back.
pub fn next(now: DateTime<Utc>, last: u64) -> u64 {
    let since = (now.timestamp_millis() - i64::from(EPOCH) * EPOCH_MS).max(0) as u64;
    (since << TIME_SHIFT).max(last.saturating_add(1))
}

/// When `id` was issued.
pub fn time(id: u64) -> DateTime<Utc> {
    let millis = (id >> TIME_SHIFT) as i64 + i64::from(EPOCH) * EPOCH_MS;
    Utc.timestamp_millis_opt(millis).single().unwrap_or_default()
}

/// The API form: the epoch byte and the id, in hex.
pub fn to_hex(id: u64) -> String {
    format!("{EPOCH:02x}{id:016x}")
}

/// The id of an API-form idtimestamp (an optional `0x`, then exactly 9 bytes of hex).
pub fn from_hex(text: &str) -> Option<u64> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(text).ok()?;
    let id: [u8; 8] = bytes.get(1..).filter(|_| bytes.len() == 9)?.try_into().ok()?;
    Some(u64::from_be_bytes(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DataTrails' public event 663: its idtimestamp decodes to its `timestamp_committed`.
    #[test]
    fn decodes_as_datatrails_does() {
        let id = from_hex("018fa97ef269039b00").expect("hex");
        assert_eq!(id, 0x8fa97ef269039b00);
        assert_eq!(
            time(id).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "2024-05-24T07:27:00.200Z"
        );
        assert_eq!(to_hex(id), "018fa97ef269039b00");
        assert_eq!(from_hex("0x01946fe35fc6017900"), Some(0x946fe35fc6017900));
        assert_eq!(from_hex("946fe35fc6017900"), None, "the epoch byte is required");
    }

    #[test]
    fn ids_only_grow() {
        let now = Utc::now();
        let first = next(now, 0);
        assert_eq!(time(first).timestamp_millis(), now.timestamp_millis());
        assert_eq!(next(now, first), first + 1);
        assert!(next(now - chrono::Duration::seconds(5), first) > first);
    }
}
