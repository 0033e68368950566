/**
 * Frame payloads: msgpack through one msgpackr Packr with records and structured clone off
 * (the messages are plain data; measured on a 100-byte `replicate` message, plain encoding was
 * ~1.5 µs to encode and ~1.2 µs to decode, records slightly slower; msgpackr's `sequential`
 * mode was faster (~1.1/0.6 µs) but ties decoding to stream order and per-connection state, so
 * it is left for later). Handshake and error payloads are validated here, so the shell only
 * ever sees well-formed values or a PeerProtocolError('payload').
 */
import { Packr } from 'msgpackr';
import { ERROR_CODES, type ErrorCode } from '../../errors/index.js';
import { PeerProtocolError } from './frame.js';

const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, bundleStrings: false });

export function packPayload(value: unknown): Buffer {
  return packr.pack(value);
}

export function unpackPayload(bytes: Buffer): unknown {
  if (bytes.length === 0) throw new PeerProtocolError('payload', 'empty payload');
  try {
    return packr.unpack(bytes);
  } catch (e) {
    throw new PeerProtocolError('payload', `undecodable payload: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Sent by the dialer first, answered with the same shape (helloAck) or a reject. */
export interface Hello {
  nodeId: string;
  clusterName: string;
  major: number;
  minor: number;
}

export type RejectReason = 'duplicate' | 'cluster' | 'version' | 'identity' | 'shutting_down';
const REJECT_REASONS: readonly RejectReason[] = ['duplicate', 'cluster', 'version', 'identity', 'shutting_down'];

export interface Reject {
  reason: RejectReason;
  message: string;
  /** The refusing node's id (sent with `duplicate`, so a dialer by address learns who it is). */
  nodeId?: string;
}

export interface ErrorReply {
  code: ErrorCode;
  message: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isUint = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;

export function decodeHello(bytes: Buffer): Hello {
  const v = unpackPayload(bytes);
  if (
    !isRecord(v) ||
    typeof v.nodeId !== 'string' || v.nodeId.length === 0 || v.nodeId.length > 255 ||
    typeof v.clusterName !== 'string' || v.clusterName.length > 255 ||
    !isUint(v.major, 255) || !isUint(v.minor, 0xffff)
  ) {
    throw new PeerProtocolError('payload', 'malformed hello');
  }
  return { nodeId: v.nodeId, clusterName: v.clusterName, major: v.major, minor: v.minor };
}

export function decodeReject(bytes: Buffer): Reject {
  const v = unpackPayload(bytes);
  if (!isRecord(v) || typeof v.message !== 'string' || !REJECT_REASONS.includes(v.reason as RejectReason)) {
    throw new PeerProtocolError('payload', 'malformed reject');
  }
  const out: Reject = { reason: v.reason as RejectReason, message: v.message };
  if (typeof v.nodeId === 'string' && v.nodeId.length > 0 && v.nodeId.length <= 255) out.nodeId = v.nodeId;
  return out;
}

/** Unknown codes (a newer peer's) become ERR_INTERNAL rather than failing the connection. */
export function decodeErrorReply(bytes: Buffer): ErrorReply {
  const v = unpackPayload(bytes);
  if (!isRecord(v) || typeof v.code !== 'string' || typeof v.message !== 'string') {
    throw new PeerProtocolError('payload', 'malformed error reply');
  }
  const code: ErrorCode = Object.hasOwn(ERROR_CODES, v.code) ? (v.code as ErrorCode) : 'ERR_INTERNAL';
  return { code, message: v.message };
}
