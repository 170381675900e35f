-- Scanner claims: a blob is scanned by whoever set scan_claim last, until the lease ends.
ALTER TABLE blobs ADD COLUMN scan_claim TEXT;
ALTER TABLE blobs ADD COLUMN scan_claimed_at TEXT;
-- Blobs the scanner cannot judge (over its size limit): left NOT_SCANNED, not retried.
ALTER TABLE blobs ADD COLUMN scan_skipped INTEGER NOT NULL DEFAULT 0;
-- How many verdicts were recorded: exactly one per blob is the goal.
ALTER TABLE blobs ADD COLUMN scan_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX blobs_to_scan ON blobs (timestamp_accepted) WHERE scanned_status = 'NOT_SCANNED' AND NOT scan_skipped;
