/**
 * Small helpers shared by the connection/admin commands: Redis's integer parsing and error
 * texts, and the password check used by AUTH and HELLO.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../../../config/schema.js';
import { RingkvError } from '../../../errors/index.js';

export const SYNTAX_ERROR = (): RingkvError => new RingkvError('ERR_SYNTAX', 'syntax error');

/** Redis's string2ll acceptance (no spaces, no '+', no leading zeros), or undefined. */
export function parseInteger(b: Buffer | string): number | undefined {
  const s = typeof b === 'string' ? b : b.toString('latin1');
  if (!/^(0|-?[1-9]\d{0,18})$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function integerArg(b: Buffer): number {
  const n = parseInteger(b);
  if (n === undefined) throw new RingkvError('ERR_NOT_INTEGER', 'value is not an integer or out of range');
  return n;
}

export function lower(b: Buffer | undefined): string {
  return b === undefined ? '' : b.toString('latin1').toLowerCase();
}

function digest(s: string | Buffer): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * ringkv has one user, "default", as Redis without ACL files: with no requirepass any password
 * is accepted for it; with one, it must match (compared in constant time).
 */
export function credentialsValid(config: Config, user: string, password: Buffer): boolean {
  if (user !== 'default') return false;
  if (config.requirepass === '') return true;
  return timingSafeEqual(digest(Buffer.from(config.requirepass, 'latin1')), digest(password));
}

export const WRONGPASS = (): RingkvError =>
  new RingkvError('ERR_WRONG_PASS', 'WRONGPASS invalid username-password pair or user is disabled.');

/** Redis's rule for client names: printable ASCII without spaces. */
export function validClientName(b: Buffer): boolean {
  for (const c of b) if (c < 33 || c > 126) return false;
  return true;
}

export const BAD_CLIENT_NAME = (): RingkvError =>
  new RingkvError('ERR_INVALID_ARGUMENT', 'Client names cannot contain spaces, newlines or special characters.');
