import Fastify from 'fastify';

/**
 * The baseline HTTP figures are divided by: bare Fastify 5 with no plugins or logging, serialising a tiny body
 * through a response schema as Moim's routes do, so the ratio isolates what Moim adds on top of the framework.
 */
const app = Fastify({ logger: false });

app.get(
  '/',
  {
    schema: {
      response: { 200: { type: 'object', properties: { hello: { type: 'string' } }, required: ['hello'] } },
    },
  },
  async () => ({ hello: 'world' }),
);

await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 3001) });

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
