import { AjvCompiler } from '@fastify/ajv-compiler';
import type { FastifySchemaCompiler } from 'fastify';

const AJV_OPTIONS = { allErrors: true, removeAdditional: true, useDefaults: true } as const;

type Pool = ReturnType<typeof AjvCompiler>;
type ExternalSchemas = Parameters<Pool>[0];
type CompilerOptions = Parameters<Pool>[1];
type RouteCompiler = FastifySchemaCompiler<unknown>;

/**
 * Query strings, path params and headers arrive as text, so their validators coerce ("10" → 10, one value → an
 * array). JSON bodies already carry types, and coercing them is harmful: `null` would become `0` or `""`, so
 * clearing a place would store the point (0, 0). Bodies are therefore validated without coercion.
 */
export function validatorFactory() {
  const pool = AjvCompiler();
  // The published types describe the returned compiler as Ajv's `compile`; at run time Fastify calls it with
  // the route definition (schema, method, url, httpPart), as its own default does.
  const build = (externalSchemas: ExternalSchemas, options: CompilerOptions, coerceTypes: 'array' | false) =>
    pool(externalSchemas, {
      ...options,
      customOptions: { ...options?.customOptions, ...AJV_OPTIONS, coerceTypes },
    } as CompilerOptions) as unknown as RouteCompiler;
  return (externalSchemas: ExternalSchemas, options?: CompilerOptions) => {
    const coercing = build(externalSchemas, options, 'array');
    const strict = build(externalSchemas, options, false);
    const compile: RouteCompiler = (route) => (route.httpPart === 'body' ? strict(route) : coercing(route));
    return compile as unknown as ReturnType<Pool>;
  };
}
