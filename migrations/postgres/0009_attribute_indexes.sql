-- Attribute filters are containment queries (`attributes::jsonb @> {"k": "v"}`), which these
-- indexes answer without reading every row of the tenant.
CREATE INDEX assets_attributes ON assets USING gin ((attributes::jsonb) jsonb_path_ops);
CREATE INDEX events_event_attributes ON events USING gin ((event_attributes::jsonb) jsonb_path_ops);
CREATE INDEX events_asset_attributes ON events USING gin ((asset_attributes::jsonb) jsonb_path_ops);
