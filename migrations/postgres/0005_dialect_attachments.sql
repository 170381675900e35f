-- Attachments made through the Navarik and Mediapocket routes. `container` names what they
-- hang on: `workspaces/<w>/documents/<d>`, `assets/<a>` or `events/<e>` (a project).
-- A Navarik attachment holds a blob and the hash recorded when it was attached; a
-- Mediapocket placeholder holds neither. Deleting keeps the row, marked deleted.
CREATE TABLE dialect_attachments (
    seq               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                uuid NOT NULL UNIQUE,
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    container         text NOT NULL,
    blob_id           uuid REFERENCES blobs (id) ON DELETE CASCADE,
    hash_sha256       text,
    title             text NOT NULL,
    description       text,
    client_reference  text,
    vendor_reference  text,
    external_id       text,
    category          text,
    tags              text NOT NULL DEFAULT '[]',
    owner             text NOT NULL,
    created_at        timestamptz NOT NULL,
    modified_at       timestamptz NOT NULL,
    deleted_at        timestamptz
);
CREATE INDEX dialect_attachments_container ON dialect_attachments (tenant_id, container, seq);
