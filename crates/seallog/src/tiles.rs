//! C2SP tlog-tiles v0.1.0: where a tile is (`tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`,
//! N written in groups of three digits, `x` before all but the last) and what it holds (256
//! hashes of one level, or 256 entries each behind its two-byte big-endian length). Hashes are
//! stored as Go's `sumdb/tlog` stores them (`stored_hash_index`), so a tile is read from its
//! stored hashes alone.

use tlog_tiles::{stored_hash_index, Hash};

/// Levels of the tree one hash tile spans.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// The longest entry a bundle can hold (its length is two bytes).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// A tile, as its path names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TilePath {
    /// Hashes of level `8 × level` of the tree, from position `index × 256`, `width` of them.
    Hashes {
        /// The tile's level (the tree's level `8 × level`), 0 to 7.
        level: u8,
        /// Which tile of its level.
        index: u64,
        /// How many hashes, 1 to 256.
        width: u64,
    },
    /// Entries from `index × 256`, `width` of them.
    Entries {
        /// Which bundle.
        index: u64,
        /// How many entries, 1 to 256.
        width: u64,
    },
}

impl TilePath {
    /// Reads a path relative to the log's prefix (`tile/…`); `None` for anything else,
    /// including a full width written as partial and digits not in groups of three.
    ///
    /// ```
    /// use seallog::TilePath;
    /// let tile = TilePath::parse("tile/0/x001/234.p/7");
    /// assert_eq!(tile, Some(TilePath::Hashes { level: 0, index: 1234, width: 7 }));
    /// assert_eq!(tile.map(|t| t.path()).as_deref(), Some("tile/0/x001/234.p/7"));
    /// assert_eq!(TilePath::parse("tile/0/1234"), None);
    /// ```
    pub fn parse(path: &str) -> Option<Self> {
        let rest = path.strip_prefix("tile/")?;
        let (kind, rest) = rest.split_once('/')?;
        let (digits, width) = match rest.split_once(".p/") {
            Some((digits, width)) => (digits, Some(width)),
            None => (rest, None),
        };
        let index = parse_index(digits)?;
        let width = match width {
            None => TILE_WIDTH,
            Some(w) if w.len() <= 3 && w.bytes().all(|b| b.is_ascii_digit()) && !w.starts_with('0') => {
                let w: u64 = w.parse().ok()?;
                (1..TILE_WIDTH).contains(&w).then_some(w)?
            }
            Some(_) => return None,
        };
        match kind {
            "entries" => Some(Self::Entries { index, width }),
            level if level.len() <= 2 && level.bytes().all(|b| b.is_ascii_digit()) => {
                let level: u8 = level.parse().ok()?;
                let canonical = level.to_string() == kind;
                // 8 × level must be a level of a tree of at most 2^64 entries.
                (canonical && level < 8).then_some(Self::Hashes { level, index, width })
            }
            _ => None,
        }
    }

    /// The tile's path, relative to the log's prefix.
    pub fn path(&self) -> String {
        let (kind, index, width) = match *self {
            Self::Hashes { level, index, width } => (level.to_string(), index, width),
            Self::Entries { index, width } => ("entries".to_string(), index, width),
        };
        let partial = match width {
            TILE_WIDTH => String::new(),
            w => format!(".p/{w}"),
        };
        format!("tile/{kind}/{}{partial}", index_path(index))
    }

    /// Every tile of a log of `size` entries (the rightmost of each level partial): its
    /// entry bundles, then its hash tiles level by level.
    pub fn all(size: u64) -> Vec<Self> {
        let mut tiles = Vec::new();
        for index in 0..size.div_ceil(TILE_WIDTH) {
            let width = (size - index * TILE_WIDTH).min(TILE_WIDTH);
            tiles.push(Self::Entries { index, width });
        }
        for level in 0..8u8 {
            let count = size >> (u32::from(level) * u32::from(TILE_HEIGHT));
            for index in 0..count.div_ceil(TILE_WIDTH) {
                let width = (count - index * TILE_WIDTH).min(TILE_WIDTH);
                tiles.push(Self::Hashes { level, index, width });
            }
        }
        tiles
    }

    /// Whether a log of `size` entries holds this tile (a partial one no wider than what
    /// it has).
    pub fn within(&self, size: u64) -> bool {
        let (level, index, width) = match *self {
            Self::Hashes { level, index, width } => (u32::from(level) * u32::from(TILE_HEIGHT), index, width),
            Self::Entries { index, width } => (0, index, width),
        };
        let available = size.checked_shr(level).unwrap_or(0);
        index
            .checked_mul(TILE_WIDTH)
            .and_then(|start| start.checked_add(width))
            .is_some_and(|end| end <= available)
    }

    /// The stored-hash indexes a hash tile holds, in order (none for an entry bundle).
    pub fn stored_indexes(&self) -> Vec<u64> {
        match *self {
            Self::Hashes { level, index, width } => (0..width)
                .map(|i| stored_hash_index(level * TILE_HEIGHT, index * TILE_WIDTH + i))
                .collect(),
            Self::Entries { .. } => Vec::new(),
        }
    }

    /// The entry positions an entry bundle holds (none for a hash tile).
    pub fn entry_positions(&self) -> std::ops::Range<u64> {
        match *self {
            Self::Entries { index, width } => index * TILE_WIDTH..index * TILE_WIDTH + width,
            Self::Hashes { .. } => 0..0,
        }
    }
}

/// A hash tile's content: its hashes, concatenated.
pub fn hash_tile(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

/// An entry bundle's content: each entry behind its length (two bytes, big-endian).
/// `None` if an entry is longer than a bundle can say.
pub fn entry_bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut bundle = Vec::new();
    for entry in entries {
        let length = u16::try_from(entry.len()).ok()?;
        bundle.extend_from_slice(&length.to_be_bytes());
        bundle.extend_from_slice(entry);
    }
    Some(bundle)
}

/// `N` as C2SP writes it: groups of three digits, `x` before all but the last.
fn index_path(mut n: u64) -> String {
    let mut path = format!("{:03}", n % 1000);
    while n >= 1000 {
        n /= 1000;
        path = format!("x{:03}/{path}", n % 1000);
    }
    path
}

fn parse_index(digits: &str) -> Option<u64> {
    let groups: Vec<&str> = digits.split('/').collect();
    let (last, rest) = groups.split_last()?;
    let mut n: u64 = 0;
    for (i, group) in rest.iter().enumerate() {
        let group = group.strip_prefix('x')?;
        // No leading group of zeros: each index has one path.
        if i == 0 && group == "000" {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(three_digits(group)?)?;
    }
    n.checked_mul(1000)?.checked_add(three_digits(last)?)
}

fn three_digits(group: &str) -> Option<u64> {
    (group.len() == 3 && group.bytes().all(|b| b.is_ascii_digit()))
        .then(|| group.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_back_in_one_form() {
        for tile in [
            TilePath::Hashes {
                level: 0,
                index: 0,
                width: 256,
            },
            TilePath::Hashes {
                level: 2,
                index: 1_234_067,
                width: 1,
            },
            TilePath::Entries { index: 999, width: 255 },
            TilePath::Entries {
                index: 1000,
                width: 256,
            },
        ] {
            assert_eq!(TilePath::parse(&tile.path()), Some(tile), "{}", tile.path());
        }
        assert_eq!(
            TilePath::Hashes {
                level: 2,
                index: 1_234_067,
                width: 1
            }
            .path(),
            "tile/2/x001/x234/067.p/1"
        );
        for bad in [
            "tile/0/x000/001",
            "tile/0/01",
            "tile/0/001.p/256",
            "tile/0/001.p/0",
            "tile/0/001.p/07",
            "tile/8/001",
            "tile/00/001",
            "tile/data/001",
            "tile/entries/x1/001",
            "checkpoint",
        ] {
            assert_eq!(TilePath::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_tile_is_within_a_log_only_when_the_log_reaches_it() {
        let full = TilePath::Hashes {
            level: 0,
            index: 1,
            width: 256,
        };
        assert!(!full.within(511) && full.within(512));
        let upper = TilePath::Hashes {
            level: 1,
            index: 0,
            width: 2,
        };
        assert!(!upper.within(511) && upper.within(512));
        let entries = TilePath::Entries { index: 0, width: 5 };
        assert!(!entries.within(4) && entries.within(5) && entries.within(300));
    }
}
