-- Each event term also carries its event's operation and behaviour (events never change),
-- so a count filtering on an attribute and on those reads the term index alone (the table
-- is its primary key, WITHOUT ROWID). They are ids of `event_names`, to keep entries small.
CREATE TABLE event_names (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE
);
INSERT INTO event_names (name) SELECT operation FROM events UNION SELECT behaviour FROM events;
ALTER TABLE event_terms ADD COLUMN operation_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE event_terms ADD COLUMN behaviour_id INTEGER NOT NULL DEFAULT 0;
UPDATE event_terms SET
    operation_id = (SELECT n.id FROM events e JOIN event_names n ON n.name = e.operation WHERE e.seq = event_terms.event_seq),
    behaviour_id = (SELECT n.id FROM events e JOIN event_names n ON n.name = e.behaviour WHERE e.seq = event_terms.event_seq);
