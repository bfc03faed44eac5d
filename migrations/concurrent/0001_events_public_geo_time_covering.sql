-- 0013's covering place-and-time index (events.schema.ts), built without blocking writes; then 0009's, which it
-- replaces, is dropped.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_public_geo_time_idx" ON "events" USING gist ("geo_time") include ("id", "lat", "lng", "title", "starts_at", "going_count", "capacity", "locked_at", "apply_deadline") WHERE "events"."geo_time" is not null and "events"."visibility" = 'public' and "events"."status" = 'scheduled';--> statement-breakpoint
DROP INDEX CONCURRENTLY IF EXISTS "events_public_geo_time_idx_0009";
