-- Attachments made through the Navarik and Mediapocket routes. `container` names what they
-- hang on: `workspaces/<w>/documents/<d>`, `assets/<a>` or `events/<e>` (a project).
-- A Navarik attachment holds a blob and the hash recorded when it was attached; a
-- Mediapocket placeholder holds neither. Deleting keeps the row, marked deleted.
CREATE TABLE dialect_attachments (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                BLOB NOT NULL UNIQUE,
    tenant_id         BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    container         TEXT NOT NULL,
    blob_id           BLOB REFERENCES blobs (id) ON DELETE CASCADE,
    hash_sha256       TEXT,
    title             TEXT NOT NULL,
    description       TEXT,
    client_reference  TEXT,
    vendor_reference  TEXT,
    external_id       TEXT,
    category          TEXT,
    tags              TEXT NOT NULL DEFAULT '[]',
    owner             TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    modified_at       TEXT NOT NULL,
    deleted_at        TEXT
);
CREATE INDEX dialect_attachments_container ON dialect_attachments (tenant_id, container, seq);
