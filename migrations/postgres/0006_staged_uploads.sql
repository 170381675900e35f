-- Uploads are staged: each chunk is committed on its own as it arrives, so no upload holds
-- a connection in an open transaction while it waits for a slow client. A chunk is visible
-- only through its blob row, which is written when the upload completes; until then its
-- upload is listed here, and one untouched for too long is swept away with its chunks.
CREATE TABLE blob_uploads (
    blob_id     uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    started_at  timestamptz NOT NULL,
    touched_at  timestamptz NOT NULL
);
CREATE INDEX blob_uploads_touched ON blob_uploads (touched_at);

-- Chunks now exist before their blob row, so they no longer reference it.
ALTER TABLE blob_chunks DROP CONSTRAINT blob_chunks_blob_id_fkey;
