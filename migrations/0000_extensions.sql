-- Extensions used by geo search (cube + earthdistance), keyword search (pg_trgm) and exclusion constraints
-- (btree_gist). They ship with PostgreSQL contrib and inside PGlite.
CREATE EXTENSION IF NOT EXISTS cube;--> statement-breakpoint
CREATE EXTENSION IF NOT EXISTS earthdistance;--> statement-breakpoint
CREATE EXTENSION IF NOT EXISTS pg_trgm;--> statement-breakpoint
CREATE EXTENSION IF NOT EXISTS btree_gist;
