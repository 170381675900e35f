-- Sharing, as DataTrails has it: subjects (other tenants this tenant knows, by their keys)
-- and access policies (which assets, and which of their attributes, a subject may read).
-- A tenant's own keys name it to others: another tenant's subject holding one of them
-- stands for this tenant. They are made on first use.
ALTER TABLE tenants ADD COLUMN wallet_pub_key text;
ALTER TABLE tenants ADD COLUMN tessera_pub_key text;
CREATE UNIQUE INDEX tenants_wallet_pub_key ON tenants (wallet_pub_key);
CREATE UNIQUE INDEX tenants_tessera_pub_key ON tenants (tessera_pub_key);

CREATE TABLE subjects (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              uuid NOT NULL UNIQUE,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    display_name    text NOT NULL,
    -- JSON arrays of strings, as the client sent them
    wallet_pub_key  text NOT NULL,
    tessera_pub_key text NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX subjects_tenant ON subjects (tenant_id, seq);

CREATE TABLE access_policies (
    seq                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                 uuid NOT NULL UNIQUE,
    tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    display_name       text NOT NULL,
    description        text NOT NULL,
    -- JSON, validated on the way in
    filters            text NOT NULL,
    access_permissions text NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX access_policies_tenant ON access_policies (tenant_id, seq);
