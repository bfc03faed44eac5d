/**
 * The whole database schema: each module owns its tables in `<module>.schema.ts`; this file gathers them for
 * drizzle (typed queries) and drizzle-kit (migration generation).
 */
export * from '../outbox/outbox.schema.js';
export * from '../../modules/accounts/accounts.schema.js';
export * from '../../modules/groups/groups.schema.js';
export * from '../../modules/events/events.schema.js';
export * from '../../modules/calendar/calendar.schema.js';
export * from '../../modules/chat/chat.schema.js';
export * from '../../modules/presence/presence.schema.js';
export * from '../../modules/locations/locations.schema.js';
export * from '../../modules/reactions/reactions.schema.js';
export * from '../../modules/blocks/blocks.schema.js';
