CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE apps (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    display_name  text NOT NULL,
    client_id     text NOT NULL UNIQUE,
    secret_hash   text NOT NULL,
    admin         boolean NOT NULL,
    custom_claims text NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL
);
CREATE INDEX apps_tenant ON apps (tenant_id);

-- Server-wide values such as the generated token signing key.
CREATE TABLE settings (
    key    text PRIMARY KEY,
    value  text NOT NULL
);

CREATE TABLE blobs (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hash_sha256         text NOT NULL,
    size                bigint NOT NULL,
    chunk_bytes         bigint NOT NULL,
    mime_type           text NOT NULL,
    issuer              text NOT NULL,
    subject             text NOT NULL,
    timestamp_accepted  timestamptz NOT NULL,
    scanned_status      text NOT NULL DEFAULT 'NOT_SCANNED',
    scanned_bad_reason  text NOT NULL DEFAULT '',
    scanned_timestamp   timestamptz,
    tampered_at         timestamptz
);
CREATE INDEX blobs_tenant ON blobs (tenant_id);

-- Content, in chunks of the blob's chunk_bytes; written in the same transaction as the
-- blob row, which the deferred key lets come last.
CREATE TABLE blob_chunks (
    blob_id  uuid NOT NULL REFERENCES blobs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    seq      bigint NOT NULL,
    data     bytea NOT NULL,
    PRIMARY KEY (blob_id, seq)
);
-- Random and already-compressed content does not compress: skip the attempt.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
