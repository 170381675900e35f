ALTER TABLE apps ADD COLUMN secret_created_at timestamptz;
UPDATE apps SET secret_created_at = created_at;

-- Per-tenant quota overrides (NULL: the server's default) and usage, kept in step with
-- blob commits so a quota check is one atomic update.
ALTER TABLE tenants ADD COLUMN max_blobs bigint;
ALTER TABLE tenants ADD COLUMN max_bytes bigint;
ALTER TABLE tenants ADD COLUMN max_blob_bytes bigint;
ALTER TABLE tenants ADD COLUMN blob_count bigint NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN bytes_used bigint NOT NULL DEFAULT 0;
UPDATE tenants SET
    blob_count = (SELECT COUNT(*) FROM blobs WHERE blobs.tenant_id = tenants.id),
    bytes_used = (SELECT COALESCE(SUM(size), 0) FROM blobs WHERE blobs.tenant_id = tenants.id);
