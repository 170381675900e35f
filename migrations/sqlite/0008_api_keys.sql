-- Long-lived Mediapocket API keys: high-entropy random, shown once, kept only as SHA-256.
CREATE TABLE api_keys (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);
