-- Every blob's record (tenant, id, size, SHA-256, chunking, the key of its chunk MACs and
-- when it was stored) is a leaf of its tenant's log, so the record a download trusts is
-- anchored outside the database. Blobs from before get their leaves in the one-time
-- migration at start.
ALTER TABLE blobs ADD COLUMN log_index INTEGER;
ALTER TABLE blobs ADD COLUMN idtimestamp INTEGER;
ALTER TABLE blobs ADD COLUMN chunk_mac_key TEXT NOT NULL DEFAULT '';
UPDATE blobs SET chunk_mac_key = COALESCE((SELECT key_id FROM blob_chunk_macs m WHERE m.blob_id = blobs.id), '');
CREATE UNIQUE INDEX blobs_log_index ON blobs (tenant_id, log_index);
-- Rows without a place in the log are looked for at every start: keep that cheap.
CREATE INDEX events_unlogged ON events (tenant_id) WHERE log_index IS NULL;
CREATE INDEX blobs_unlogged ON blobs (tenant_id) WHERE log_index IS NULL;
