/**
 * Resolves a requested consistency level to a replica count for a replication factor N.
 * 'one' = 1, 'two' = 2, 'quorum' = floor(N/2) + 1, 'all' = N, a number = itself. The result is
 * always within 1..N; anything else is the client's mistake and raises ERR_INVALID_ARGUMENT
 * (the typed counterpart of a RangeError), so the node answers it without touching a replica.
 */
import { RingkvError } from '../../errors/ringkv-error.js';
import type { Consistency } from '../messages.js';

export function resolveQuorum(level: Consistency, replicationFactor: number, what: 'R' | 'W'): number {
  if (!Number.isSafeInteger(replicationFactor) || replicationFactor < 1) {
    throw new RangeError(`replicationFactor must be a positive integer, got ${replicationFactor}`);
  }
  let n: number;
  switch (level) {
    case 'one': n = 1; break;
    case 'two': n = 2; break;
    case 'quorum': n = Math.floor(replicationFactor / 2) + 1; break;
    case 'all': n = replicationFactor; break;
    default:
      if (typeof level !== 'number' || !Number.isSafeInteger(level)) {
        throw new RingkvError('ERR_INVALID_ARGUMENT', `${what} must be one, two, quorum, all or an integer`);
      }
      n = level;
  }
  if (n < 1 || n > replicationFactor) {
    throw new RingkvError('ERR_INVALID_ARGUMENT', `${what}=${n} is outside 1..${replicationFactor} (the replication factor)`);
  }
  return n;
}
