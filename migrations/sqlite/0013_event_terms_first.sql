-- PostgreSQL's 0013 lets an event's terms be written before its row. SQLite has one
-- writer, which writes the row first: nothing changes here.
SELECT 1;
