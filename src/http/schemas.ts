/**
 * The HTTP API's schemas: one zod schema per request option set, request body and response
 * body. The same objects validate requests (app.ts) and generate /openapi.json (openapi.ts),
 * so the document cannot drift from what the server enforces. Tests read the served document
 * back and check real responses against it.
 *
 * Invariant: no transforms or refinements here (they are unrepresentable in JSON Schema); the
 * handlers convert parsed values (base64, levels) after validation.
 */
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../errors/index.js';

/** one, two, quorum, all, or an explicit replica count (query strings arrive as text). */
export const consistencySchema = z
  .union([z.enum(['one', 'two', 'quorum', 'all']), z.coerce.number().int().min(1).max(64)])
  .describe('Consistency level: one, two, quorum, all or a replica count (1..64).');

const boolText = z.enum(['true', 'false', '1', '0']);

/** GET /v1/kv/{key} options (query string, or the X-Ringkv-* headers of the same names). */
export const readOptionsSchema = z.strictObject({
  r: consistencySchema.optional(),
});

/** PUT/DELETE /v1/kv/{key} options. */
export const writeOptionsSchema = z.strictObject({
  w: consistencySchema.optional(),
  /** Time to live in ms; absent = no expiry. */
  ttl_ms: z.coerce.number().int().min(1).max(10 * 365 * 24 * 3600_000).optional().describe('Time to live, ms (absent: no expiry).'),
  /** Strict quorum: only preference-list replicas count toward W (cluster mode). */
  strict: boolText.optional().describe('Strict quorum: only preference-list replicas count toward W (cluster mode).'),
  /**
   * Without a context a write supersedes what the coordinating replica holds (plain Redis SET;
   * the default). overwrite=false makes it a blind write that adds a sibling instead.
   */
  overwrite: boolText.optional().describe('Without a context: true (default) supersedes what the coordinating replica holds, like a plain Redis SET; false adds a sibling (blind write). Not allowed with a context.'),
});

export const keysQuerySchema = z.strictObject({
  cursor: z.string().max(4096).optional().describe('Opaque cursor from the previous page; absent = first page.'),
  limit: z.coerce.number().int().min(1).max(10_000).optional().describe('Most keys in the page (default 100).'),
  match: z.string().max(1024).optional().describe('Glob pattern (Redis MATCH syntax).'),
});

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/).describe('Bytes, base64.');
const keyText = z.string().min(1).describe('Key as UTF-8 text.');

export const valueVersionSchema = z.strictObject({
  value: base64,
  expires_at_ms: z.number().int().min(0).describe('Absolute expiry, Unix ms; 0 = none.'),
});

/** GET with Accept: application/json (200), and the 300 Multiple Choices body. */
export const kvReadSchema = z.strictObject({
  key: z.string(),
  context: z.string().describe('Causal context (base64url) to send back with the next write.'),
  values: z.array(valueVersionSchema).describe('One value, or every concurrent sibling (300).'),
});

export const batchGetBodySchema = z.strictObject({
  keys: z.array(keyText).min(1).max(1000),
  r: consistencySchema.optional(),
});

export const batchGetResponseSchema = z.strictObject({
  results: z.array(
    z.strictObject({
      key: z.string(),
      found: z.boolean(),
      context: z.string().optional(),
      values: z.array(valueVersionSchema).optional(),
      error: z.strictObject({ code: z.string(), message: z.string(), retryable: z.boolean() }).optional(),
    }),
  ),
});

export const batchPutItemSchema = z.strictObject({
  key: keyText,
  value: base64.optional().describe('Value bytes, base64 (or use text).'),
  text: z.string().optional().describe('Value as UTF-8 text (instead of value).'),
  delete: z.boolean().optional().describe('Delete the key instead of writing a value.'),
  context: z.string().max(65_536).optional(),
  ttl_ms: z.number().int().min(1).max(10 * 365 * 24 * 3600_000).optional(),
});

export const batchPutBodySchema = z.strictObject({
  items: z.array(batchPutItemSchema).min(1).max(1000),
  w: consistencySchema.optional(),
});

export const errorBodySchema = z.strictObject({
  error: z.strictObject({
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    retryable: z.boolean(),
  }),
});

export const batchPutResponseSchema = z.strictObject({
  results: z.array(
    z.strictObject({
      key: z.string(),
      ok: z.boolean(),
      error: errorBodySchema.shape.error.optional(),
    }),
  ),
});

export const keysPageSchema = z.strictObject({
  keys: z.array(z.string()),
  cursor: z.string().nullable().describe('Cursor of the next page; null = listing complete.'),
});

export const healthSchema = z.strictObject({ status: z.enum(['ok', 'shutting_down']) });
export const readySchema = z.strictObject({
  ready: z.boolean(),
  reason: z.string().describe('Why not ready (joining, draining, shutting_down, not_in_ring), or "ok".'),
});

const addressSchema = z.strictObject({
  host: z.string(),
  resp_port: z.number().int(),
  peer_port: z.number().int(),
  http_port: z.number().int(),
});

export const membersSchema = z.strictObject({
  self: z.string(),
  members: z.array(
    z.strictObject({
      id: z.string(),
      state: z.enum(['alive', 'suspect', 'dead', 'left']),
      incarnation: z.number().int(),
      in_ring: z.boolean(),
      down: z.boolean(),
      address: addressSchema.nullable(),
    }),
  ),
});

const ringBodySchema = z.strictObject({
  epoch: z.number().int(),
  replication_factor: z.number().int(),
  members: z.array(z.strictObject({ id: z.string(), weight: z.number(), rack: z.string(), zone: z.string() })),
  /** Consecutive slots with the same preference list, as [first, last, replicas]. */
  ranges: z.array(z.strictObject({ first: z.number().int(), last: z.number().int(), replicas: z.array(z.string()) })),
});

export const ringSchema = z.strictObject({
  self: z.string(),
  current: ringBodySchema,
  pending: ringBodySchema.nullable(),
  nodes: z.record(z.string(), addressSchema).describe('HTTP/RESP addresses of every member this node knows.'),
});

export const ownershipSchema = z.strictObject({
  epoch: z.number().int(),
  nodes: z.array(
    z.strictObject({
      id: z.string(),
      replicas: z.number().int(),
      primaries: z.number().int(),
      percent: z.number().describe('Share of all slot-replicas, 0..100.'),
    }),
  ),
});

export const statsSectionSchema = z.strictObject({
  node: z.string(),
  stats: z.record(z.string(), z.number()),
});

export const antiEntropySchema = z.strictObject({
  node: z.string(),
  stats: z.record(z.string(), z.number()),
  partitions: z.strictObject({
    slots: z.number().int().describe('Slots this node replicates.'),
    never_synced: z.number().int().describe('Of those, slots never fully in sync with their other replicas.'),
    oldest_synced_ms: z.number().int().nullable().describe('The oldest last-full-sync time among synced slots (Unix ms).'),
    newest_synced_ms: z.number().int().nullable(),
    ranges: z.array(z.strictObject({
      first: z.number().int(),
      last: z.number().int(),
      last_synced_ms: z.number().int().nullable(),
    })).optional().describe('With detail=1: consecutive slots with the same watermark.'),
  }).nullable().describe('Per-partition watermarks; null when the node does not report them.'),
});

export const loadSchema = z.strictObject({
  nodes: z.array(z.strictObject({
    id: z.string(),
    keys: z.number().int().nullable().describe('Live records the node holds (every replica), null when it did not answer.'),
  })),
});

export const hotKeysSchema = z.strictObject({
  node: z.string(),
  since_ms: z.number().int(),
  keys: z.array(z.strictObject({ key: z.string(), count: z.number().int(), error: z.number().int() })),
});

export const topologySchema = z.strictObject({
  change: z
    .strictObject({ kind: z.enum(['join', 'decommission', 'remove']), id: z.string() })
    .nullable(),
  phase: z.enum(['idle', 'streaming', 'committing', 'done', 'failed']),
  slots_to_move: z.number().int(),
  slots_moved: z.number().int(),
  keys_streamed: z.number().int(),
  bytes_streamed: z.number().int(),
  message: z.string(),
});

export const joinBodySchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  weight: z.number().positive().max(1000).optional(),
  rack: z.string().max(255).optional(),
  zone: z.string().max(255).optional(),
});
export const nodeBodySchema = z.strictObject({ id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/) });

export const repairSchema = z.strictObject({
  node: z.string(),
  started: z.boolean(),
  stats: z.record(z.string(), z.number()),
});

export type ReadOptionsInput = z.infer<typeof readOptionsSchema>;
export type WriteOptionsInput = z.infer<typeof writeOptionsSchema>;
