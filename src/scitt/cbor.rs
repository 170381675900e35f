//! A strict first reading of a statement's CBOR, before coset decodes it: well-formed,
//! definite lengths that fit in what was sent, nesting at most `MAX_DEPTH` deep, nothing
//! after the item, and no map holding the same key twice. RFC 9052 §3 says a COSE message
//! with a label twice in one map must not be processed (and RFC 8949 §5.6 why: readers
//! disagree on which one counts). Decoders take the first or the last; attachd takes neither.

/// Nesting deeper than this is refused: statements are a few maps deep.
const MAX_DEPTH: usize = 16;

/// A map key as compared for duplicates: integers by value, strings by content, anything
/// else by its encoding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Int(i128),
    Text(Vec<u8>),
    Bytes(Vec<u8>),
    Other(Vec<u8>),
}

/// One top-level entry of a map: its key, and the first byte of its value (major type
/// and length), so a caller can insist on a value's plain form.
pub struct Entry {
    pub key: Key,
    pub value_head: u8,
}

/// Checks `bytes` is exactly one well-formed CBOR item with no duplicate map key.
pub fn check_strict(bytes: &[u8]) -> Result<(), String> {
    let mut reader = Reader { bytes, at: 0 };
    reader.item(0)?;
    if reader.at != bytes.len() {
        return Err(format!("{} bytes follow the CBOR item", bytes.len() - reader.at));
    }
    Ok(())
}

/// The protected header's bytes of a COSE Sign1 (tagged 18 or not), if `bytes` starts as one.
pub fn sign1_protected(bytes: &[u8]) -> Option<&[u8]> {
    let mut reader = Reader { bytes, at: 0 };
    let (mut major, mut argument) = reader.head().ok()?;
    if (major, argument) == (6, 18) {
        (major, argument) = reader.head().ok()?;
    }
    if (major, argument) != (4, 4) {
        return None;
    }
    let (major, length) = reader.head().ok()?;
    if major != 2 {
        return None;
    }
    let start = reader.at;
    reader.take(length).ok()?;
    bytes.get(start..reader.at)
}

/// The entries of the map `bytes` holds (checked as `check_strict` does).
pub fn map_entries(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    check_strict(bytes)?;
    let mut reader = Reader { bytes, at: 0 };
    let (major, count) = reader.head()?;
    if major != 5 {
        return Err("not a CBOR map".into());
    }
    let mut entries = Vec::new();
    for _ in 0..count {
        let key = reader.item(1)?;
        let value_head = *bytes.get(reader.at).ok_or("a map value is missing")?;
        reader.item(1)?;
        entries.push(Entry { key, value_head });
    }
    Ok(entries)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: u64) -> Result<&[u8], String> {
        let n = usize::try_from(n).map_err(|_| "a length is too large")?;
        let end = self.at.checked_add(n).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or("an item runs past the end of what was sent")?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    /// An item's major type and argument; indefinite lengths and reserved values refused.
    fn head(&mut self) -> Result<(u8, u64), String> {
        let first = *self.take(1)?.first().ok_or("an item is missing")?;
        let (major, info) = (first >> 5, first & 0x1f);
        let argument = match info {
            0..=23 => u64::from(info),
            24..=27 => {
                let width = 1u64 << (info - 24);
                self.take(width)?
                    .iter()
                    .fold(0u64, |value, byte| (value << 8) | u64::from(*byte))
            }
            31 => return Err("indefinite-length CBOR is not accepted".into()),
            _ => return Err(format!("reserved CBOR additional information {info}")),
        };
        Ok((major, argument))
    }

    /// Reads one item (and everything in it); answers it as a map key.
    fn item(&mut self, depth: usize) -> Result<Key, String> {
        if depth > MAX_DEPTH {
            return Err(format!("CBOR nested more than {MAX_DEPTH} deep"));
        }
        let start = self.at;
        let (major, argument) = self.head()?;
        Ok(match major {
            0 => Key::Int(i128::from(argument)),
            1 => Key::Int(-1 - i128::from(argument)),
            2 => Key::Bytes(self.take(argument)?.to_vec()),
            3 => {
                let text = self.take(argument)?;
                std::str::from_utf8(text).map_err(|_| "a CBOR text string is not UTF-8")?;
                Key::Text(text.to_vec())
            }
            4 => {
                for _ in 0..argument {
                    self.item(depth + 1)?;
                }
                Key::Other(self.bytes[start..self.at].to_vec())
            }
            5 => {
                let mut keys = std::collections::BTreeSet::new();
                for _ in 0..argument {
                    let key = self.item(depth + 1)?;
                    if !keys.insert(key.clone()) {
                        return Err(format!("a CBOR map holds the key {} twice", show(&key)));
                    }
                    self.item(depth + 1)?;
                }
                Key::Other(self.bytes[start..self.at].to_vec())
            }
            6 => {
                self.item(depth + 1)?;
                Key::Other(self.bytes[start..self.at].to_vec())
            }
            _ => Key::Other(self.bytes[start..self.at].to_vec()),
        })
    }
}

fn show(key: &Key) -> String {
    match key {
        Key::Int(n) => n.to_string(),
        Key::Text(text) => format!("{:?}", String::from_utf8_lossy(text)),
        Key::Bytes(bytes) | Key::Other(bytes) => format!("h'{}'", hex::encode(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        // {1: 1, 1: 2}
        assert!(check_strict(&[0xa2, 0x01, 0x01, 0x01, 0x02]).is_err());
        // {1: 1, 24(1 as one byte): 2}: the same key in another encoding.
        assert!(check_strict(&[0xa2, 0x01, 0x01, 0x18, 0x01, 0x02]).is_err());
        // [{"a": 1, "a": 2}]
        assert!(check_strict(&[0x81, 0xa2, 0x61, b'a', 0x01, 0x61, b'a', 0x02]).is_err());
        // {1: 1, -2: 2, "a": 3}
        assert!(check_strict(&[0xa3, 0x01, 0x01, 0x21, 0x02, 0x61, b'a', 0x03]).is_ok());
    }

    #[test]
    fn lengths_past_the_end_trailing_bytes_and_indefinite_items_are_refused() {
        assert!(check_strict(&[0x5a, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(check_strict(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(check_strict(&[0x01, 0x01]).is_err());
        assert!(check_strict(&[0x9f, 0x01, 0xff]).is_err());
        assert!(check_strict(&[0x62, 0xff, 0xfe]).is_err());
        assert!(check_strict(&[0x81; 40].iter().copied().chain([0x01]).collect::<Vec<_>>()).is_err());
    }

    #[test]
    fn map_entries_show_each_value_head() -> Result<(), String> {
        // {1: -7, 3: tag 2 (bignum)}
        let entries = map_entries(&[0xa2, 0x01, 0x26, 0x03, 0xc2, 0x41, 0x07])?;
        assert_eq!(entries[0].key, Key::Int(1));
        assert_eq!(entries[0].value_head >> 5, 1);
        assert_eq!(entries[1].value_head >> 5, 6);
        Ok(())
    }
}
