-- The seal log: one RFC 6962 log per deployment whose entries are the seals the sealer
-- anchored (crates/seallog), kept as Go's sumdb/tlog keeps a log: entries, stored hashes by
-- index, and signed checkpoints. The head row is locked by each appender.
CREATE TABLE seal_log_head (id integer PRIMARY KEY CHECK (id = 1), size bigint NOT NULL);
INSERT INTO seal_log_head (id, size) VALUES (1, 0);
CREATE TABLE seal_log_entries (idx bigint PRIMARY KEY, entry bytea NOT NULL);
CREATE TABLE seal_log_hashes (idx bigint PRIMARY KEY, hash bytea NOT NULL);
CREATE TABLE seal_log_checkpoints (size bigint PRIMARY KEY, note bytea NOT NULL);
