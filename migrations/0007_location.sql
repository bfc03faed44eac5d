CREATE TABLE "location_access_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"subject_id" uuid NOT NULL,
	"viewer_id" uuid NOT NULL,
	"share_id" uuid NOT NULL,
	"first_seen_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	"deliveries" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "location_shares" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"session_id" uuid,
	"audience" text NOT NULL,
	"audience_id" uuid,
	"precision" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone NOT NULL,
	"stopped_at" timestamp with time zone,
	"stop_reason" text
);
--> statement-breakpoint
ALTER TABLE "location_access_log" ADD CONSTRAINT "location_access_log_subject_id_users_id_fk" FOREIGN KEY ("subject_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "location_access_log" ADD CONSTRAINT "location_access_log_viewer_id_users_id_fk" FOREIGN KEY ("viewer_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "location_access_log" ADD CONSTRAINT "location_access_log_share_id_location_shares_id_fk" FOREIGN KEY ("share_id") REFERENCES "public"."location_shares"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "location_shares" ADD CONSTRAINT "location_shares_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "location_access_subject_idx" ON "location_access_log" USING btree ("subject_id","id");--> statement-breakpoint
CREATE INDEX "location_access_last_seen_idx" ON "location_access_log" USING btree ("last_seen_at");--> statement-breakpoint
CREATE INDEX "location_shares_user_idx" ON "location_shares" USING btree ("user_id","started_at");--> statement-breakpoint
CREATE UNIQUE INDEX "location_shares_active_key" ON "location_shares" USING btree ("user_id","audience",coalesce("audience_id", '00000000-0000-0000-0000-000000000000'::uuid)) WHERE "location_shares"."stopped_at" is null;--> statement-breakpoint
CREATE INDEX "location_shares_open_idx" ON "location_shares" USING btree ("ends_at") WHERE "location_shares"."stopped_at" is null;