CREATE TABLE tenants (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE apps (
    id            BLOB PRIMARY KEY,
    tenant_id     BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    display_name  TEXT NOT NULL,
    client_id     TEXT NOT NULL UNIQUE,
    secret_hash   TEXT NOT NULL,
    admin         INTEGER NOT NULL,
    custom_claims TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL
);
CREATE INDEX apps_tenant ON apps (tenant_id);

-- Server-wide values such as the generated token signing key.
CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE TABLE blobs (
    id                  BLOB PRIMARY KEY,
    tenant_id           BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hash_sha256         TEXT NOT NULL,
    size                INTEGER NOT NULL,
    chunk_bytes         INTEGER NOT NULL,
    mime_type           TEXT NOT NULL,
    issuer              TEXT NOT NULL,
    subject             TEXT NOT NULL,
    timestamp_accepted  TEXT NOT NULL,
    scanned_status      TEXT NOT NULL DEFAULT 'NOT_SCANNED',
    scanned_bad_reason  TEXT NOT NULL DEFAULT '',
    scanned_timestamp   TEXT,
    tampered_at         TEXT
);
CREATE INDEX blobs_tenant ON blobs (tenant_id);

-- Content, in chunks of the blob's chunk_bytes; written in the same transaction as the
-- blob row, which the deferred key lets come last.
CREATE TABLE blob_chunks (
    blob_id  BLOB NOT NULL REFERENCES blobs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    seq      INTEGER NOT NULL,
    data     BLOB NOT NULL,
    PRIMARY KEY (blob_id, seq)
);
