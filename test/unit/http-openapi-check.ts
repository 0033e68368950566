/**
 * Checks real HTTP responses against the served /openapi.json: the operation must document the
 * status, and a JSON body must satisfy that status's schema (turned back into a validator with
 * z.fromJSONSchema). Shared by the in-process and the real-cluster HTTP tests.
 */
import assert from 'node:assert/strict';
import { z } from 'zod';

type Json = Record<string, unknown>;

export class OpenApiChecker {
  private readonly cache = new Map<string, z.ZodType>();

  constructor(readonly doc: Json) {}

  static async fetch(base: string): Promise<OpenApiChecker> {
    const r = await fetch(`${base}/openapi.json`);
    assert.equal(r.status, 200);
    return new OpenApiChecker((await r.json()) as Json);
  }

  /** Asserts that `status` is documented for the operation and that `body` (JSON) matches its schema. */
  check(method: string, template: string, status: number, body: unknown, contentType = 'application/json'): void {
    const paths = this.doc['paths'] as Record<string, Record<string, Json>>;
    const op = paths[template]?.[method.toLowerCase()];
    assert.ok(op !== undefined, `openapi documents ${method} ${template}`);
    const responses = op['responses'] as Record<string, Json>;
    const resp = responses[String(status)];
    assert.ok(resp !== undefined, `openapi documents status ${status} for ${method} ${template}`);
    if (!contentType.startsWith('application/json')) {
      const content = resp['content'] as Record<string, unknown> | undefined;
      assert.ok(content !== undefined && contentType.split(';')[0]! in content, `openapi documents ${contentType} for ${status}`);
      return;
    }
    const key = `${method} ${template} ${status}`;
    let validator = this.cache.get(key);
    if (validator === undefined) {
      const content = resp['content'] as Record<string, { schema: Json }> | undefined;
      const schema = content?.['application/json']?.schema;
      assert.ok(schema !== undefined, `openapi has a JSON schema for ${key}`);
      validator = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
      this.cache.set(key, validator);
    }
    const r = validator.safeParse(body);
    assert.ok(r.success, `${key}: body ${JSON.stringify(body).slice(0, 300)} does not match: ${r.success ? '' : r.error.message}`);
  }
}
