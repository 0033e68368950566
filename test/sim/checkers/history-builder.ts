/**
 * A small DSL for hand-made histories in checker tests: ops are appended with explicit times
 * and outcomes, so each test reads like the scenario it describes.
 */
import type { History, HistoryOp, Outcome, RunConfig } from '../history.js';

export interface OpSpec {
  client?: number;
  key?: string;
  /** Invoke and complete times (ms). */
  at: [number, number | null];
  outcome?: Outcome;
  /** R for gets, W for puts/deletes (default: majority of N). */
  q?: number;
  /** The get whose context a write carries. */
  ctx?: HistoryOp;
  errorCode?: string;
}

export class HistoryBuilder {
  readonly h: History;

  constructor(config: Partial<RunConfig> = {}) {
    this.h = { config: { seed: 1, nodes: 5, replicationFactor: 3, mode: 'siblings', siblingsMax: 4, ...config }, ops: [], final: [] };
  }

  private add(kind: HistoryOp['kind'], value: string | null, s: OpSpec, valuesRead: string[] | null): HistoryOp {
    const n = this.h.config.replicationFactor;
    const q = s.q ?? Math.floor(n / 2) + 1;
    const outcome = s.outcome ?? 'ok';
    const op: HistoryOp = {
      id: this.h.ops.length,
      client: s.client ?? 0,
      node: 'n1',
      kind,
      key: s.key ?? 'k',
      value,
      contextFromOp: s.ctx?.id ?? null,
      context: s.ctx === undefined ? null : 'ctx',
      replicationFactor: n,
      readQuorum: kind === 'get' ? q : 0,
      writeQuorum: kind === 'get' ? 0 : q,
      invokeMs: s.at[0],
      completeMs: outcome === 'pending' ? null : s.at[1],
      outcome,
      errorCode: s.errorCode ?? (outcome === 'fail' ? 'ERR_UNAVAILABLE' : outcome === 'unknown' ? 'ERR_MAYBE_APPLIED' : null),
      valuesRead: kind === 'get' && outcome === 'ok' ? valuesRead : null,
      contextRead: kind === 'get' && outcome === 'ok' ? 'ctx' : null,
    };
    this.h.ops.push(op);
    return op;
  }

  put(value: string, s: OpSpec): HistoryOp {
    return this.add('put', value, s, null);
  }

  del(s: OpSpec): HistoryOp {
    return this.add('delete', null, s, null);
  }

  get(values: string[], s: OpSpec): HistoryOp {
    return this.add('get', null, s, values);
  }

  final(key: string, values: string[], siblingCount: number | null = values.length): this {
    this.h.final.push({ key, values, siblingCount });
    return this;
  }
}
