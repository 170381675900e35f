-- The domain a tenant has proved it owns, shown by :publicinfo; empty until an operator sets it
-- (`attachd tenant set-domain`).
ALTER TABLE tenants ADD COLUMN verified_domain TEXT NOT NULL DEFAULT '';
