import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Infra } from '../../infra/infra.js';

/**
 * Development only (NODE_ENV=development, never in production or test): what the `log` SMS and mail adapters
 * would have sent, so someone trying the API locally can read the code their phone or inbox never got.
 */
export const devRoutes: FastifyPluginAsyncTypebox<{ infra: Infra }> = async (app, { infra }) => {
  app.get(
    '/dev/outbox',
    {
      schema: {
        // Development only: not part of the published contract (openapi.json is generated in development).
        hide: true,
        tags: ['operations'],
        summary: 'Messages the development SMS and mail adapters "sent" (development only)',
        description:
          'Exists only when NODE_ENV=development. Lists the newest messages first, with their full text, ' +
          'including verification codes.',
        querystring: Type.Object({
          channel: Type.Optional(Type.Union([Type.Literal('sms'), Type.Literal('mail')])),
          to: Type.Optional(Type.String({ maxLength: 254, description: 'E.164 number or email address.' })),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                channel: Type.Union([Type.Literal('sms'), Type.Literal('mail')]),
                to: Type.String(),
                subject: Type.Optional(Type.String()),
                text: Type.String(),
                at: Type.String({ format: 'date-time' }),
              }),
            ),
          }),
        },
      },
    },
    async (request) => ({
      items: infra.devOutbox
        .list(request.query)
        .reverse()
        .map((m) => ({
          channel: m.channel,
          to: m.to,
          ...(m.subject ? { subject: m.subject } : {}),
          text: m.text,
          at: m.at.toISOString(),
        })),
    }),
  );
};
