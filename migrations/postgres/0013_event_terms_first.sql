-- An event's terms are written before its row, outside the tenant's log-head lock (see
-- store_event! in src/repo/events.rs): their reference to the event is checked at commit.
ALTER TABLE event_terms ALTER CONSTRAINT event_terms_event_seq_fkey DEFERRABLE INITIALLY DEFERRED;
