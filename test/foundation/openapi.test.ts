import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import type { Json } from '../helpers/http.js';

// ajv-formats is CommonJS: its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv,
) => Ajv;

const COMPONENTS = '#/components/schemas/';

interface Media {
  schema?: Json;
  example?: unknown;
  examples?: Record<string, { value: unknown }>;
}

/**
 * The published contract documents every route with examples: each request body and each 2xx response
 * carries at least one (attach them with `withExamples` from src/http/schemas.ts), and every example is valid
 * against the schema it illustrates, so a module merged without examples, or with stale ones, fails here.
 */
describe('OpenAPI document', () => {
  let t: TestApp;
  let doc: Json;
  beforeAll(async () => {
    t = await buildTestApp();
    doc = (await t.app.inject({ url: '/openapi.json' })).json() as Json;
  });
  afterAll(() => t.close());

  /** Each request body and 2xx response of a documented route, with where it sits in the document. */
  function contents(): { where: string; media: Media }[] {
    const out: { where: string; media: Media }[] = [];
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const [type, media] of Object.entries(
          (op.requestBody?.content ?? {}) as Record<string, Media>,
        )) {
          out.push({ where: `${method.toUpperCase()} ${path} request ${type}`, media });
        }
        for (const [status, response] of Object.entries(op.responses as Record<string, Json>)) {
          if (!status.startsWith('2')) continue;
          for (const [type, media] of Object.entries((response.content ?? {}) as Record<string, Media>)) {
            out.push({ where: `${method.toUpperCase()} ${path} ${status} ${type}`, media });
          }
        }
      }
    }
    return out;
  }

  /** The examples of a media type: its own, or those of the component schema it references. */
  function examplesOf(media: Media): unknown[] {
    if (media.example !== undefined) return [media.example];
    if (media.examples) return Object.values(media.examples).map((e) => e.value);
    const ref = media.schema?.$ref as string | undefined;
    if (ref?.startsWith(COMPONENTS)) {
      const component = doc.components.schemas[ref.slice(COMPONENTS.length)];
      if (component?.example !== undefined) return [component.example];
    }
    return [];
  }

  it('lists the routes it checks, every /v1 one among them', () => {
    expect(contents().filter((c) => c.where.includes(' /v1/')).length).toBeGreaterThan(50);
  });

  it('gives every request body and 2xx response an example', () => {
    const missing = contents()
      .filter(({ media }) => examplesOf(media).length === 0)
      .map((c) => c.where);
    expect(missing, 'add examples with withExamples() from src/http/schemas.ts').toEqual([]);
  });

  it('every example is valid against its schema', () => {
    // OpenAPI 3.0 schemas: `nullable` and `example` are keywords Ajv does not know in strict mode.
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: 'openapi', components: doc.components });
    const invalid: string[] = [];
    for (const { where, media } of contents()) {
      if (!media.schema) continue;
      const schema = JSON.parse(
        JSON.stringify(media.schema).replaceAll(`"${COMPONENTS}`, `"openapi${COMPONENTS}`),
      );
      const validate = ajv.compile(schema);
      for (const example of examplesOf(media)) {
        if (!validate(example)) invalid.push(`${where}: ${ajv.errorsText(validate.errors)}`);
      }
    }
    expect(invalid).toEqual([]);
  });
});
