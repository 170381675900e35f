-- Long-lived Mediapocket API keys: high-entropy random, shown once, kept only as SHA-256.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    prefix      text NOT NULL,
    key_hash    text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);
