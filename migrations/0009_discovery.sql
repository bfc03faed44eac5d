CREATE TABLE "reactions" (
	"target_type" text NOT NULL,
	"target_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"user_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "reactions_target_type_target_id_kind_user_id_pk" PRIMARY KEY("target_type","target_id","kind","user_id")
);
--> statement-breakpoint
DROP INDEX "events_title_trgm_idx";--> statement-breakpoint
DROP INDEX "events_geo_idx";--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "geo" "cube" GENERATED ALWAYS AS (ll_to_earth(lat, lng)::cube) STORED;--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "geo_time" "cube" GENERATED ALWAYS AS (cube(ll_to_earth(lat, lng)::cube, extract(epoch from (starts_at - '1970-01-01 00:00:00+00'::timestamptz)) * 0.1)) STORED;--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "search_text" text GENERATED ALWAYS AS (lower(title || ' ' || coalesce(place_name, '') || ' ' || coalesce(description, ''))) STORED;--> statement-breakpoint
ALTER TABLE "reactions" ADD CONSTRAINT "reactions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "reactions_user_idx" ON "reactions" USING btree ("user_id","kind","created_at" DESC NULLS LAST,"target_id");--> statement-breakpoint
CREATE INDEX "events_search_trgm_idx" ON "events" USING gin ("search_text" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "events_public_starts_idx" ON "events" USING btree ("starts_at","id") WHERE "events"."visibility" = 'public' and "events"."status" = 'scheduled';--> statement-breakpoint
CREATE INDEX "events_public_liked_idx" ON "events" USING btree ("like_count" DESC NULLS LAST,"id" DESC NULLS LAST) WHERE "events"."visibility" = 'public' and "events"."status" = 'scheduled';--> statement-breakpoint
CREATE INDEX "events_public_geo_time_idx" ON "events" USING gist ("geo_time") WHERE "events"."geo_time" is not null and "events"."visibility" = 'public' and "events"."status" = 'scheduled';--> statement-breakpoint
CREATE INDEX "events_region_idx" ON "events" USING btree ("region","starts_at");--> statement-breakpoint
CREATE INDEX "events_geo_idx" ON "events" USING gist ("geo") WHERE "events"."geo" is not null;