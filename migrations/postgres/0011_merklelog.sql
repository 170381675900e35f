-- The verifiable log (src/log): every event is a leaf of its tenant's MMR, appended in the
-- transaction that stores it. Events stored before the log are appended at the next start.
ALTER TABLE events ADD COLUMN log_index bigint;
-- The snowflake id the leaf commits to (a u64, kept as its bit pattern).
ALTER TABLE events ADD COLUMN idtimestamp bigint;
CREATE UNIQUE INDEX events_log_index ON events (tenant_id, log_index);

-- One row per tenant: how far its log reaches. Appending locks it, so each tenant's log
-- has one order however many attachd processes write.
CREATE TABLE log_heads (
    tenant_id         uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    size              bigint NOT NULL,
    last_idtimestamp  bigint NOT NULL
);

-- Every node of every tenant's MMR; massifs are rendered from these.
CREATE TABLE log_nodes (
    tenant_id  uuid NOT NULL,
    mmr_index  bigint NOT NULL,
    hash       bytea NOT NULL,
    PRIMARY KEY (tenant_id, mmr_index)
);

-- The latest seal of each massif (COSE Sign1 bytes, as published).
CREATE TABLE log_seals (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    massif_index  bigint NOT NULL,
    mmr_size      bigint NOT NULL,
    seal          bytea NOT NULL,
    sealed_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, massif_index)
);
