-- The verifiable log (src/log): every event is a leaf of its tenant's MMR, appended in the
-- transaction that stores it. Events stored before the log are appended at the next start.
ALTER TABLE events ADD COLUMN log_index INTEGER;
-- The snowflake id the leaf commits to (a u64, kept as its bit pattern).
ALTER TABLE events ADD COLUMN idtimestamp INTEGER;
CREATE UNIQUE INDEX events_log_index ON events (tenant_id, log_index);

-- One row per tenant: how far its log reaches (SQLite has one writer, which orders it).
CREATE TABLE log_heads (
    tenant_id         BLOB PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    size              INTEGER NOT NULL,
    last_idtimestamp  INTEGER NOT NULL
);

-- Every node of every tenant's MMR; massifs are rendered from these.
CREATE TABLE log_nodes (
    tenant_id  BLOB NOT NULL,
    mmr_index  INTEGER NOT NULL,
    hash       BLOB NOT NULL,
    PRIMARY KEY (tenant_id, mmr_index)
) WITHOUT ROWID;

-- The latest seal of each massif (COSE Sign1 bytes, as published).
CREATE TABLE log_seals (
    tenant_id     BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    massif_index  INTEGER NOT NULL,
    mmr_size      INTEGER NOT NULL,
    seal          BLOB NOT NULL,
    sealed_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, massif_index)
);
