-- Sharing, as DataTrails has it: subjects (other tenants this tenant knows, by their keys)
-- and access policies (which assets, and which of their attributes, a subject may read).
-- A tenant's own keys name it to others: another tenant's subject holding one of them
-- stands for this tenant. They are made on first use.
ALTER TABLE tenants ADD COLUMN wallet_pub_key TEXT;
ALTER TABLE tenants ADD COLUMN tessera_pub_key TEXT;
CREATE UNIQUE INDEX tenants_wallet_pub_key ON tenants (wallet_pub_key);
CREATE UNIQUE INDEX tenants_tessera_pub_key ON tenants (tessera_pub_key);

CREATE TABLE subjects (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              BLOB NOT NULL UNIQUE,
    tenant_id       BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    display_name    TEXT NOT NULL,
    -- JSON arrays of strings, as the client sent them
    wallet_pub_key  TEXT NOT NULL,
    tessera_pub_key TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX subjects_tenant ON subjects (tenant_id, seq);

CREATE TABLE access_policies (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    id                 BLOB NOT NULL UNIQUE,
    tenant_id          BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    display_name       TEXT NOT NULL,
    description        TEXT NOT NULL,
    -- JSON, validated on the way in
    filters            TEXT NOT NULL,
    access_permissions TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX access_policies_tenant ON access_policies (tenant_id, seq);
