-- seq orders lists and makes page tokens; JSON is kept as text, parsed by attachd.
CREATE TABLE assets (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           BLOB NOT NULL UNIQUE,
    tenant_id    BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    behaviours   TEXT NOT NULL,
    attributes   TEXT NOT NULL,
    public       INTEGER NOT NULL,
    owner        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    -- bumped on every attribute update, for optimistic concurrency
    version      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX assets_tenant ON assets (tenant_id, seq);

-- Asset events (asset_id set) and asset-free events (asset_id NULL).
CREATE TABLE events (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  BLOB NOT NULL UNIQUE,
    tenant_id           BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    asset_id            BLOB REFERENCES assets (id) ON DELETE CASCADE,
    operation           TEXT NOT NULL,
    behaviour           TEXT NOT NULL,
    event_attributes    TEXT NOT NULL,
    asset_attributes    TEXT NOT NULL,
    trails              TEXT NOT NULL,
    timestamp_declared  TEXT NOT NULL,
    principal_declared  TEXT NOT NULL,
    issuer              TEXT NOT NULL,
    subject             TEXT NOT NULL,
    timestamp_accepted  TEXT NOT NULL
);
CREATE INDEX events_tenant ON events (tenant_id, seq);
CREATE INDEX events_asset ON events (asset_id, seq);
