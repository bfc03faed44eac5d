import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { actorOf } from '../../http/auth.js';
import { errorResponses, IdParams } from '../../http/schemas.js';
import { ReactionStateResponse, SavedPage, SavedQuery, toSaved } from './reactions.dto.js';
import type { ReactionsModule } from './reactions.module.js';
import type { ReactionKind, ReactionTargetType } from './reactions.schema.js';

const tags = ['reactions'];
const PATHS: Record<ReactionTargetType, string> = { event: '/events', group: '/groups' };

/** Likes and bookmarks on events and groups; my likes and bookmarks. */
export const reactionsRoutes: FastifyPluginAsyncTypebox<{ reactions: ReactionsModule }> = async (
  app,
  { reactions },
) => {
  const { service } = reactions;
  for (const type of ['event', 'group'] as const) {
    for (const kind of ['like', 'bookmark'] as const) {
      const url = `${PATHS[type]}/:id/${kind}`;
      const what = `${kind === 'like' ? 'Like' : 'Bookmark'} ${type === 'event' ? 'an event' : 'a group'}`;
      for (const method of ['PUT', 'DELETE'] as const) {
        const on = method === 'PUT';
        app[on ? 'put' : 'delete'](
          url,
          {
            config: { auth: 'required' },
            schema: {
              tags,
              summary: on ? what : `Undo: ${what.toLowerCase()}`,
              description:
                `Idempotent: ${on ? 'doing it twice counts once' : 'undoing twice changes nothing'}. Answers ` +
                `the caller's state and the ${type}'s counts. 404 for a ${type} the caller cannot see.`,
              params: IdParams,
              response: { 200: ReactionStateResponse, ...errorResponses(401, 404) },
            },
          },
          async (request) => service.set(actorOf(request), type, request.params.id, kind, on),
        );
      }
    }
  }

  for (const kind of ['like', 'bookmark'] as const satisfies ReactionKind[]) {
    app.get(
      kind === 'like' ? '/me/likes' : '/me/bookmarks',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: kind === 'like' ? 'What I like' : 'My bookmarks',
          description: 'Newest first; things I can no longer see are left out.',
          querystring: SavedQuery,
          response: { 200: SavedPage, ...errorResponses(401) },
        },
      },
      async (request) => {
        const page = await service.saved(actorOf(request), kind, request.query);
        return { items: page.items.map(toSaved), nextCursor: page.nextCursor };
      },
    );
  }
};
