-- StopTracking / StartTracking (DataTrails' built-in tracking events): default asset lists
-- hide untracked assets. Few are untracked, so a partial index answers "any at all?".
ALTER TABLE assets ADD COLUMN tracked boolean NOT NULL DEFAULT true;
CREATE INDEX assets_untracked ON assets (tenant_id) WHERE NOT tracked;
