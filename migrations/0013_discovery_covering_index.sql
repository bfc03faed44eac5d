-- The covering index replaces 0009's under the same name, built by concurrent/0001_events_public_geo_time_covering
-- without blocking writes to events; here the old one only steps aside (a rename locks no reads or writes) and
-- keeps serving until the new one is ready. This file first shipped as DROP INDEX + CREATE INDEX in the migration
-- transaction, which blocks every write to events for the whole build. A database that applied that version keeps
-- it: migrations are matched by their journal timestamp, not their text, and the concurrent step finds the index
-- already there. See migrations/README.md.
ALTER INDEX "events_public_geo_time_idx" RENAME TO "events_public_geo_time_idx_0009";
