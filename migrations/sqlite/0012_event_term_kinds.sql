-- Each event term also carries its event's operation and behaviour (events never change),
-- so a count filtering on an attribute and on those reads the term index alone (the table
-- is its primary key, WITHOUT ROWID).
ALTER TABLE event_terms ADD COLUMN operation TEXT NOT NULL DEFAULT '';
ALTER TABLE event_terms ADD COLUMN behaviour TEXT NOT NULL DEFAULT '';
UPDATE event_terms SET
    operation = (SELECT e.operation FROM events e WHERE e.seq = event_terms.event_seq),
    behaviour = (SELECT e.behaviour FROM events e WHERE e.seq = event_terms.event_seq);
