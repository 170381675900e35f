-- StopTracking / StartTracking (DataTrails' built-in tracking events): default asset lists
-- hide untracked assets. Few are untracked, so a partial index answers "any at all?".
ALTER TABLE assets ADD COLUMN tracked INTEGER NOT NULL DEFAULT 1;
CREATE INDEX assets_untracked ON assets (tenant_id) WHERE NOT tracked;
