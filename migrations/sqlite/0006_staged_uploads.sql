-- Uploads are staged: each chunk is committed on its own as it arrives, so no upload holds
-- the write lock (or a connection) while it waits for a slow client. A chunk is visible only
-- through its blob row, which is written when the upload completes; until then its upload
-- is listed here, and one untouched for too long is swept away with its chunks.
CREATE TABLE blob_uploads (
    blob_id     BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL,
    started_at  TEXT NOT NULL,
    touched_at  TEXT NOT NULL
);
CREATE INDEX blob_uploads_touched ON blob_uploads (touched_at);

-- Chunks now exist before their blob row, so they no longer reference it.
CREATE TABLE blob_chunks_staged (
    blob_id  BLOB NOT NULL,
    seq      INTEGER NOT NULL,
    data     BLOB NOT NULL,
    PRIMARY KEY (blob_id, seq)
);
INSERT INTO blob_chunks_staged (blob_id, seq, data) SELECT blob_id, seq, data FROM blob_chunks;
DROP TABLE blob_chunks;
ALTER TABLE blob_chunks_staged RENAME TO blob_chunks;
