-- PostgreSQL indexes attribute filters here (GIN); SQLite has no such index, and its
-- attribute index table is still to come. Kept so both backends have the same migrations.
SELECT 1;
