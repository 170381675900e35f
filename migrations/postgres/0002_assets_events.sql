-- seq orders lists and makes page tokens; JSON is kept as text, parsed by attachd.
CREATE TABLE assets (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           uuid NOT NULL UNIQUE,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    behaviours   text NOT NULL,
    attributes   text NOT NULL,
    public       boolean NOT NULL,
    owner        text NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    -- bumped on every attribute update, for optimistic concurrency
    version      bigint NOT NULL DEFAULT 0
);
CREATE INDEX assets_tenant ON assets (tenant_id, seq);

-- Asset events (asset_id set) and asset-free events (asset_id NULL).
CREATE TABLE events (
    seq                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                  uuid NOT NULL UNIQUE,
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    asset_id            uuid REFERENCES assets (id) ON DELETE CASCADE,
    operation           text NOT NULL,
    behaviour           text NOT NULL,
    event_attributes    text NOT NULL,
    asset_attributes    text NOT NULL,
    trails              text NOT NULL,
    timestamp_declared  text NOT NULL,
    principal_declared  text NOT NULL,
    issuer              text NOT NULL,
    subject             text NOT NULL,
    timestamp_accepted  timestamptz NOT NULL
);
CREATE INDEX events_tenant ON events (tenant_id, seq);
CREATE INDEX events_asset ON events (asset_id, seq);
