/**
 * TTL writes in the checkers. The expiry is part of the replicated record, so every replica
 * agrees on when a value expires; what differs between nodes is only their clocks.
 *
 * 1. `ttlAsMaybe(check)`: a put with a TTL may legitimately vanish from any later read once it
 *    expires, so the checkers that demand a value's presence (no lost writes, read-your-writes,
 *    a quiet read-modify-write reads back exactly its value) judge such puts as may-have-happened
 *    (outcome unknown). TTL puts in the simulator are blind (no context), so they supersede
 *    nothing and no other write's excuse depends on them.
 * 2. `checkExpiredNeverRead`: no read returns a value after it expired: a get invoked more than
 *    the clock-skew bound after the value's expiry (any node serving it then has a clock past
 *    the expiry; node time never goes back) must not return it; the final read neither.
 *
 * Holds in: any run; applicable when the history has TTL puts.
 */
import type { Checker, CheckResult, History } from '../history.js';
import { describe } from './analysis.js';

export const EXPIRED_NEVER_READ = 'ttl: no read returns a value past its expiry (plus clock skew)';

export function ttlAsMaybe(check: Checker): Checker {
  return (h: History): CheckResult => {
    if (!h.ops.some((o) => o.expiresAtMs !== undefined)) return check(h);
    const ops = h.ops.map((o) => (o.expiresAtMs !== undefined && o.outcome === 'ok' ? { ...o, outcome: 'unknown' as const } : o));
    return check({ ...h, ops });
  };
}

export function checkExpiredNeverRead(h: History): CheckResult {
  const name = EXPIRED_NEVER_READ;
  const skew = h.config.clockSkewMaxMs ?? 0;
  const expiry = new Map<string, number>();
  for (const o of h.ops) if (o.kind === 'put' && o.value !== null && o.expiresAtMs !== undefined) expiry.set(o.value, o.expiresAtMs);
  if (expiry.size === 0) return { name, ok: true, applicable: false, violations: [] };
  const violations: string[] = [];
  for (const g of h.ops) {
    if (g.kind !== 'get' || g.outcome !== 'ok' || g.valuesRead === null) continue;
    for (const v of g.valuesRead) {
      const e = expiry.get(v);
      if (e !== undefined && g.invokeMs > e + skew) violations.push(`${describe(g)} returned ${v}, expired at ${e} (skew bound ${skew} ms)`);
    }
  }
  // The final reads run after every operation completed.
  let lastMs = 0;
  for (const o of h.ops) lastMs = Math.max(lastMs, o.completeMs ?? o.invokeMs);
  for (const f of h.final) {
    for (const v of f.values) {
      const e = expiry.get(v);
      if (e !== undefined && lastMs > e + skew) violations.push(`final read of ${f.key} returned ${v}, expired at ${e}`);
    }
  }
  return { name, ok: violations.length === 0, applicable: true, violations };
}
