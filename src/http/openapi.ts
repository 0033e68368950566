/**
 * The OpenAPI 3.1 document served at /openapi.json, generated from the route table and the
 * zod schemas the handlers validate with (z.toJSONSchema). Schemas are inlined (no $ref), so a
 * client can take any operation's schema and use it on its own.
 *
 * Every JSON error response shares one schema (the registry's codes); each operation lists the
 * statuses it can answer.
 */
import { z } from 'zod';
import { errorBodySchema } from './schemas.js';
import type { RouteSpec } from './router.js';

type Json = Record<string, unknown>;

function jsonSchema(s: z.ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Json;
  delete out['$schema'];
  return out;
}

function queryParameters(schema: z.ZodType | undefined): Json[] {
  if (schema === undefined) return [];
  const js = jsonSchema(schema, 'input');
  const props = (js['properties'] ?? {}) as Record<string, Json>;
  const required = new Set((js['required'] ?? []) as string[]);
  return Object.entries(props).map(([name, p]) => {
    const { description, ...rest } = p;
    return { name, in: 'query', required: required.has(name), ...(description !== undefined ? { description } : {}), schema: rest };
  });
}

export function buildOpenApi(routes: readonly RouteSpec[], version: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  const errorSchema = jsonSchema(errorBodySchema, 'output');
  for (const r of routes) {
    const responses: Record<string, Json> = {};
    for (const [status, doc] of Object.entries(r.responses)) {
      const content: Json = {};
      if (doc.schema !== undefined) content['application/json'] = { schema: jsonSchema(doc.schema, 'output') };
      if (doc.raw !== undefined) content[doc.raw] = { schema: { type: 'string', format: 'binary' } };
      if (Number(status) >= 400 && doc.schema === undefined) content['application/json'] = { schema: errorSchema };
      responses[status] = { description: doc.description, ...(Object.keys(content).length > 0 ? { content } : {}) };
    }
    const parameters: Json[] = [];
    if (r.path.includes('{')) {
      const name = r.path.slice(r.path.indexOf('{') + 1, -1);
      parameters.push({ name, in: 'path', required: true, description: 'Percent-encoded bytes; may contain "/".', schema: { type: 'string', minLength: 1 } });
    }
    parameters.push(...queryParameters(r.query));
    for (const h of r.headers ?? []) parameters.push({ name: h.name, in: 'header', required: false, description: h.description, schema: { type: 'string' } });
    const op: Json = {
      operationId: `${r.method.toLowerCase()}${r.path.replace(/[{}]/g, '').split(/[/_-]/).map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : '')).join('')}`,
      summary: r.summary,
      tags: [r.tag],
      ...(parameters.length > 0 ? { parameters } : {}),
      responses,
    };
    if (r.body !== undefined) {
      const content: Json = {};
      if (r.body.schema !== undefined) content['application/json'] = { schema: jsonSchema(r.body.schema, 'input') };
      if (r.body.raw !== undefined) content[r.body.raw] = { schema: { type: 'string', format: 'binary' } };
      op['requestBody'] = { required: true, description: r.body.description, content };
    }
    (paths[r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'ringkv HTTP API',
      version,
      description:
        'Key-value reads and writes with causal contexts and siblings, batches, key listing, cluster ' +
        'state and administration. Errors are JSON {"error":{"code","message","retryable"}} with the ' +
        'stable codes of the error registry.',
    },
    paths,
  };
}
