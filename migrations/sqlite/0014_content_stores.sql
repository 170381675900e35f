-- Content may live outside the database (a directory, S3). An upload's ledger entry names
-- what a crash would leave there besides the content (an S3 multipart upload), so the
-- sweeper can abort it.
ALTER TABLE blob_uploads ADD COLUMN cleanup_id TEXT;

-- A keyed MAC of each content chunk, concatenated (32 bytes per chunk), so a byte range is
-- verified from its own chunks. The key is kept outside the database and the store; a
-- blob whose MACs were made under another key (`key_id`) is verified whole instead.
CREATE TABLE blob_chunk_macs (
    blob_id  BLOB PRIMARY KEY REFERENCES blobs (id) ON DELETE CASCADE,
    key_id   TEXT NOT NULL,
    macs     BLOB NOT NULL
);
