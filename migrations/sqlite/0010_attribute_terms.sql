-- Attribute terms (src/repo/terms.rs): a 16-byte hash of each top-level string attribute,
-- written with the row, so attribute filters and counts read one tenant's matching
-- entries only. Rows stored earlier are indexed by attachd at its next start.
CREATE TABLE asset_terms (
    tenant_id  BLOB NOT NULL,
    term       BLOB NOT NULL,
    asset_seq  INTEGER NOT NULL REFERENCES assets (seq) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, term, asset_seq)
) WITHOUT ROWID;
-- An attribute update replaces the asset's terms.
CREATE INDEX asset_terms_asset ON asset_terms (asset_seq);

-- Only asset events: they are what the event lists show. Events are never changed.
CREATE TABLE event_terms (
    tenant_id  BLOB NOT NULL,
    term       BLOB NOT NULL,
    event_seq  INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, term, event_seq)
) WITHOUT ROWID;
