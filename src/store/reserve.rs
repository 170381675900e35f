//! The storage reserve: blob uploads stop while free space on the filesystems that hold
//! the SQLite database or the file store would fall below it, so the metadata that must go
//! on (events, their log entries and seals, deletes, sweeps) always has room, and a burst of
//! uploads cannot wedge the server. Each upload claims the size it declared before its
//! first byte is written (so concurrent uploads cannot all pass the check and then all
//! fail), and free space is read again before each chunk (something else may be filling
//! the disk).

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::StoreError;

/// How much free space to keep: bytes, or a percentage of each filesystem's size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MinFree {
    Bytes(u64),
    Percent(f64),
    /// 5% of each filesystem, at most 1 GiB: room for the SQLite log (up to 64 MiB is kept
    /// between checkpoints), events, seals and sweeps on a large disk, scaled down on a small
    /// one so that it still takes uploads.
    Auto,
}

impl FromStr for MinFree {
    type Err = String;

    /// `auto`, `0` (off), `67108864`, `64MiB`, `1GiB`, `500MB`, or `5%`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text == "auto" {
            return Ok(Self::Auto);
        }
        if let Some(percent) = text.strip_suffix('%') {
            let value: f64 = percent
                .trim()
                .parse()
                .map_err(|_| format!("not a percentage: {text}"))?;
            if !(0.0..100.0).contains(&value) {
                return Err(format!("a percentage from 0 to under 100, not {text}"));
            }
            return Ok(Self::Percent(value));
        }
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let number: u64 = digits.parse().map_err(|_| format!("not a size: {text}"))?;
        let scale: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" | "K" => 1 << 10,
            "MiB" | "M" => 1 << 20,
            "GiB" | "G" => 1 << 30,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            other => {
                return Err(format!(
                    "unknown unit {other:?} in {text}: use B, KiB, MiB, GiB, KB, MB, GB or %"
                ))
            }
        };
        number
            .checked_mul(scale)
            .map(Self::Bytes)
            .ok_or_else(|| format!("too large: {text}"))
    }
}

pub struct SpaceReserve {
    /// Directories on the filesystems to watch.
    dirs: Vec<PathBuf>,
    min_free: MinFree,
    /// Bytes written per byte of content: 2 where content goes into SQLite, whose log (WAL)
    /// holds a copy until it is checkpointed into the database file.
    copies: u64,
    /// Bytes claimed by uploads in progress and not given back yet.
    claimed: AtomicU64,
}

impl SpaceReserve {
    pub fn new(dirs: Vec<PathBuf>, min_free: MinFree, copies: u64) -> Arc<Self> {
        Arc::new(Self {
            dirs,
            min_free,
            copies: copies.max(1),
            claimed: AtomicU64::new(0),
        })
    }

    /// Free space above the reserve on the tightest watched filesystem; `None` when no
    /// filesystem is watched.
    fn headroom(&self) -> Result<Option<i128>, StoreError> {
        if self.min_free == MinFree::Bytes(0) {
            return Ok(None);
        }
        let mut tightest: Option<i128> = None;
        for dir in &self.dirs {
            let stats = rustix::fs::statvfs(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot read free space of {}: {e}", dir.display())))?;
            let unit = i128::from(stats.f_frsize);
            let free = i128::from(stats.f_bavail) * unit;
            let size = i128::from(stats.f_blocks) * unit;
            let keep = match self.min_free {
                MinFree::Bytes(bytes) => i128::from(bytes),
                MinFree::Percent(percent) => size * (percent * 100.0) as i128 / 10_000,
                MinFree::Auto => (size * 5 / 100).min(1 << 30),
            };
            let headroom = free - keep;
            tightest = Some(tightest.map_or(headroom, |t| t.min(headroom)));
        }
        Ok(tightest)
    }

    fn full(&self, needed: u64) -> StoreError {
        StoreError::Full(format!(
            "storing {needed} more bytes would leave less free space than the storage reserve ({:?}) kept for metadata",
            self.min_free
        ))
    }

    /// Claims `bytes` for an upload about to be written: refused (`Full`) when free space,
    /// less what other uploads claimed, would fall below the reserve.
    pub fn claim(self: &Arc<Self>, bytes: u64) -> Result<Claim, StoreError> {
        let claim = Claim {
            reserve: self.clone(),
            bytes: 0,
        };
        claim.grow(bytes)
    }
}

/// Bytes an upload in progress may write; given back when it ends.
pub struct Claim {
    reserve: Arc<SpaceReserve>,
    bytes: u64,
}

impl Claim {
    /// Before writing up to `total` bytes of the upload: checks free space again, and
    /// claims what `total` adds to the claim.
    pub fn cover(self, total: u64) -> Result<Self, StoreError> {
        let more = total.saturating_sub(self.bytes / self.reserve.copies);
        self.grow(more)
    }

    fn grow(mut self, more: u64) -> Result<Self, StoreError> {
        let more = more.saturating_mul(self.reserve.copies);
        let Some(headroom) = self.reserve.headroom()? else {
            return Ok(self);
        };
        let others = self.reserve.claimed.load(Ordering::Relaxed).saturating_sub(self.bytes);
        // What this upload wrote so far already shows in free space.
        if headroom - i128::from(others) - i128::from(more) < 0 {
            return Err(self.reserve.full(more));
        }
        self.reserve.claimed.fetch_add(more, Ordering::Relaxed);
        self.bytes += more;
        Ok(self)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.reserve.claimed.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::MinFree;

    #[test]
    fn sizes_and_percentages_parse() {
        assert_eq!("0".parse(), Ok(MinFree::Bytes(0)));
        assert_eq!("64MiB".parse(), Ok(MinFree::Bytes(64 << 20)));
        assert_eq!("500MB".parse(), Ok(MinFree::Bytes(500_000_000)));
        assert_eq!("2%".parse(), Ok(MinFree::Percent(2.0)));
        assert_eq!("auto".parse(), Ok(MinFree::Auto));
        assert!("-1".parse::<MinFree>().is_err());
        assert!("100%".parse::<MinFree>().is_err());
        assert!("12 parsecs".parse::<MinFree>().is_err());
    }
}
