CREATE TABLE "calendar_colors" (
	"user_id" uuid NOT NULL,
	"event_id" uuid NOT NULL,
	"color" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "calendar_colors_user_id_event_id_pk" PRIMARY KEY("user_id","event_id"),
	CONSTRAINT "calendar_colors_color_check" CHECK ("calendar_colors"."color" ~ '^#[0-9a-f]{6}$')
);
--> statement-breakpoint
CREATE TABLE "calendar_feeds" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"owner_id" uuid NOT NULL,
	"group_id" uuid,
	"token_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"rotated_at" timestamp with time zone,
	"last_used_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "sequence" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "calendar_colors" ADD CONSTRAINT "calendar_colors_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "calendar_colors" ADD CONSTRAINT "calendar_colors_event_id_events_id_fk" FOREIGN KEY ("event_id") REFERENCES "public"."events"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "calendar_feeds" ADD CONSTRAINT "calendar_feeds_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "calendar_colors_event_idx" ON "calendar_colors" USING btree ("event_id");--> statement-breakpoint
CREATE UNIQUE INDEX "calendar_feeds_token_key" ON "calendar_feeds" USING btree ("token_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "calendar_feeds_own_key" ON "calendar_feeds" USING btree ("owner_id") WHERE "calendar_feeds"."group_id" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "calendar_feeds_group_key" ON "calendar_feeds" USING btree ("owner_id","group_id") WHERE "calendar_feeds"."group_id" is not null;--> statement-breakpoint
CREATE INDEX "calendar_feeds_group_idx" ON "calendar_feeds" USING btree ("group_id");