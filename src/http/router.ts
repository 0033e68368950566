/**
 * Routes as data: each route names its method, path template, schemas and documented
 * responses, and carries its handler. The app dispatches with it and openapi.ts documents the
 * very same list, so a route cannot exist undocumented.
 *
 * Path templates: literal segments and at most one trailing `{name*}`-style parameter written
 * `{key}`, which takes the rest of the path (keys may contain '/'), still percent-encoded.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';

export type Method = 'GET' | 'PUT' | 'DELETE' | 'POST';

export interface ResponseDoc {
  readonly description: string;
  /** JSON body schema. */
  readonly schema?: z.ZodType;
  /** Raw body of this media type (e.g. application/octet-stream, text/plain). */
  readonly raw?: string;
}

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: Method;
  /** HEAD request served by a GET route: headers only. */
  readonly head: boolean;
  readonly path: string;
  readonly query: URLSearchParams;
  /** The trailing parameter, still percent-encoded; '' when the route has none. */
  readonly param: string;
}

export interface RouteSpec {
  readonly method: Method;
  /** e.g. '/v1/kv/{key}' or '/v1/cluster/ring'. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  readonly query?: z.ZodType;
  /** Request headers the route reads (documentation). */
  readonly headers?: readonly { name: string; description: string }[];
  readonly body?: { schema?: z.ZodType; raw?: string; description: string };
  readonly responses: Readonly<Record<number, ResponseDoc>>;
  handle(ctx: RequestContext): Promise<void> | void;
}

export type RouteMatch =
  | { kind: 'found'; route: RouteSpec; param: string }
  | { kind: 'method_not_allowed'; allow: string }
  | { kind: 'not_found' };

interface Compiled {
  readonly prefix: string;
  readonly hasParam: boolean;
  readonly byMethod: Map<Method, RouteSpec>;
}

export class Router {
  private readonly compiled: Compiled[] = [];

  constructor(readonly routes: readonly RouteSpec[]) {
    const byTemplate = new Map<string, Compiled>();
    for (const r of routes) {
      const open = r.path.indexOf('{');
      const hasParam = open >= 0;
      if (hasParam && !r.path.endsWith('}')) throw new RangeError(`route ${r.path}: the parameter must be last`);
      const prefix = hasParam ? r.path.slice(0, open) : r.path;
      let c = byTemplate.get(r.path);
      if (c === undefined) {
        c = { prefix, hasParam, byMethod: new Map() };
        byTemplate.set(r.path, c);
        this.compiled.push(c);
      }
      if (c.byMethod.has(r.method)) throw new RangeError(`route ${r.method} ${r.path} declared twice`);
      c.byMethod.set(r.method, r);
    }
    // Longest prefix first, so /v1/kv/{key} never shadows a longer literal route.
    this.compiled.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  match(method: string, path: string): RouteMatch {
    for (const c of this.compiled) {
      let param = '';
      if (c.hasParam) {
        if (!path.startsWith(c.prefix)) continue;
        param = path.slice(c.prefix.length);
      } else if (path !== c.prefix) {
        continue;
      }
      const wanted = method === 'HEAD' ? 'GET' : method;
      const route = c.byMethod.get(wanted as Method);
      if (route !== undefined) return { kind: 'found', route, param };
      const allow = [...c.byMethod.keys()];
      if (allow.includes('GET')) allow.push('HEAD' as Method);
      return { kind: 'method_not_allowed', allow: allow.join(', ') };
    }
    return { kind: 'not_found' };
  }
}
