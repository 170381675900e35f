-- Attribute terms (src/repo/terms.rs): a 16-byte hash of each top-level string attribute,
-- written with the row, so attribute filters and counts read one tenant's matching
-- entries only (an index-only scan, where GIN must visit every matching row). Rows stored
-- earlier are indexed by attachd at its next start.
CREATE TABLE asset_terms (
    tenant_id  uuid NOT NULL,
    term       bytea NOT NULL,
    asset_seq  bigint NOT NULL REFERENCES assets (seq) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, term, asset_seq)
);
-- An attribute update replaces the asset's terms.
CREATE INDEX asset_terms_asset ON asset_terms (asset_seq);

-- Only asset events: they are what the event lists show. Events are never changed.
CREATE TABLE event_terms (
    tenant_id  uuid NOT NULL,
    term       bytea NOT NULL,
    event_seq  bigint NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, term, event_seq)
);

-- The terms replace the GIN indexes of 0009, which every write paid for.
DROP INDEX assets_attributes;
DROP INDEX events_event_attributes;
DROP INDEX events_asset_attributes;
