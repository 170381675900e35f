-- Content may live outside the database (a directory, S3). An upload's ledger entry names
-- what a crash would leave there besides the content (an S3 multipart upload), so the
-- sweeper can abort it.
ALTER TABLE blob_uploads ADD COLUMN cleanup_id text;

-- A keyed MAC of each content chunk, concatenated (32 bytes per chunk), so a byte range is
-- verified from its own chunks. The key is kept outside the database and the store; a
-- blob whose MACs were made under another key (`key_id`) is verified whole instead.
CREATE TABLE blob_chunk_macs (
    blob_id  uuid PRIMARY KEY REFERENCES blobs (id) ON DELETE CASCADE,
    key_id   text NOT NULL,
    macs     bytea NOT NULL
);
-- Ranges read a slice: keep the value uncompressed so a slice reads only its pages.
ALTER TABLE blob_chunk_macs ALTER COLUMN macs SET STORAGE EXTERNAL;
