/**
 * The peer wire format, sans-IO: bytes in, frames out; frames in, bytes out. No sockets here.
 *
 * Frame layout (big-endian):
 *
 *   0  u32  bodyLength   bytes after this field (= 10 + payload length)
 *   4  u32  checksum     CRC32C of bytes [8, 4 + bodyLength)
 *   8  u8   version      protocol major (PEER_PROTOCOL_MAJOR)
 *   9  u8   kind         FrameKind
 *  10  u32  requestId    request/response correlation; 0 for frames that are not either
 *  14  ...  payload      msgpack (see peer-payload.ts); empty for ping/pong/goaway
 *
 * Invariants the decoder enforces, in this order, each as a PeerProtocolError with a stable
 * `reason` (the connection is then closed by the shell):
 * - `malformed`: bodyLength < 10;
 * - `oversize`:  4 + bodyLength > frameBytesMax — detected from the first 4 bytes, so an
 *   oversize frame is never buffered;
 * - `version`:   version byte is not ours — checked before the checksum, so a future major that
 *   changes the layout past the version byte is still reported as a version mismatch;
 * - `checksum`:  CRC32C mismatch;
 * - `kind`:      unknown kind.
 * The decoder is poisoned after an error: every later call throws the same error.
 */
import { RingkvError } from '../../errors/index.js';
import { crc32c } from './crc32c.js';

/** Incompatible wire changes bump the major; a node refuses any other major. */
export const PEER_PROTOCOL_MAJOR = 1;
/** Compatible additions bump the minor; a node accepts older and newer minors of its major. */
export const PEER_PROTOCOL_MINOR = 0;

export const FRAME_HEADER_BYTES = 14;
/** bodyLength of a frame with an empty payload. */
const BODY_MIN = FRAME_HEADER_BYTES - 4;

export const FrameKind = {
  hello: 1,
  helloAck: 2,
  reject: 3,
  message: 4,
  request: 5,
  response: 6,
  errorResponse: 7,
  ping: 8,
  pong: 9,
  goaway: 10,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];
const KIND_MAX = 10;

export interface Frame {
  kind: FrameKind;
  requestId: number;
  /** A view into the decoder's buffer: valid until the next push(); copy to keep. */
  payload: Buffer;
}

export type PeerProtocolErrorReason =
  | 'malformed'
  | 'oversize'
  | 'version'
  | 'checksum'
  | 'kind'
  /** The payload is not valid msgpack or not the shape its kind requires. */
  | 'payload'
  /** A frame arrived that the handshake state does not allow (e.g. a request before hello). */
  | 'handshake';

/** A peer broke the wire protocol; the connection carrying it must be closed. Code ERR_PROTOCOL. */
export class PeerProtocolError extends RingkvError {
  readonly reason: PeerProtocolErrorReason;
  /** For `version`: the major the peer announced. */
  readonly peerVersion: number | undefined;

  constructor(reason: PeerProtocolErrorReason, message: string, peerVersion?: number) {
    super('ERR_PROTOCOL', message);
    this.name = 'PeerProtocolError';
    this.reason = reason;
    this.peerVersion = peerVersion;
  }
}

/** One whole frame as bytes. `payload` is copied; the result may be written at once. */
export function encodeFrame(kind: FrameKind, requestId: number, payload: Uint8Array | undefined, version = PEER_PROTOCOL_MAJOR): Buffer {
  const payloadBytes = payload === undefined ? 0 : payload.length;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes);
  frame.writeUInt32BE(BODY_MIN + payloadBytes, 0);
  frame[8] = version;
  frame[9] = kind;
  frame.writeUInt32BE(requestId >>> 0, 10);
  if (payload !== undefined) frame.set(payload, FRAME_HEADER_BYTES);
  frame.writeUInt32BE(crc32c(frame, 8, frame.length), 4);
  return frame;
}

/**
 * Incremental decoder. `push(chunk)` then `next()` until it returns undefined. Chunks may split
 * frames anywhere; one chunk may hold many frames.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private failed: PeerProtocolError | undefined;

  constructor(private frameBytesMax: number) {
    if (!Number.isSafeInteger(frameBytesMax) || frameBytesMax < FRAME_HEADER_BYTES) {
      throw new RangeError(`frameBytesMax must be an integer >= ${FRAME_HEADER_BYTES}`);
    }
  }

  /** Lowered before the handshake so an unauthenticated peer cannot make us buffer much. */
  setFrameBytesMax(n: number): void {
    if (!Number.isSafeInteger(n) || n < FRAME_HEADER_BYTES) throw new RangeError('bad frameBytesMax');
    this.frameBytesMax = n;
  }

  /** Bytes received and not yet returned as frames. */
  get bufferedBytes(): number {
    return this.buf.length - this.pos;
  }

  push(chunk: Buffer): void {
    if (this.failed !== undefined) throw this.failed;
    if (this.pos >= this.buf.length) {
      this.buf = chunk;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
    }
    this.pos = 0;
  }

  next(): Frame | undefined {
    if (this.failed !== undefined) throw this.failed;
    const buf = this.buf;
    const start = this.pos;
    const avail = buf.length - start;
    if (avail < 4) return undefined;
    const bodyLength = buf.readUInt32BE(start);
    if (bodyLength < BODY_MIN) return this.fail(new PeerProtocolError('malformed', `frame body of ${bodyLength} bytes is shorter than its header`));
    if (4 + bodyLength > this.frameBytesMax) {
      return this.fail(new PeerProtocolError('oversize', `frame of ${4 + bodyLength} bytes exceeds the maximum of ${this.frameBytesMax}`));
    }
    if (avail < 9) return undefined;
    const version = buf[start + 8] as number;
    if (version !== PEER_PROTOCOL_MAJOR) {
      return this.fail(new PeerProtocolError('version', `peer speaks protocol major ${version}, this node speaks ${PEER_PROTOCOL_MAJOR}`, version));
    }
    const end = start + 4 + bodyLength;
    if (buf.length < end) return undefined;
    if (crc32c(buf, start + 8, end) !== buf.readUInt32BE(start + 4)) {
      return this.fail(new PeerProtocolError('checksum', 'frame checksum mismatch'));
    }
    const kind = buf[start + 9] as number;
    if (kind < 1 || kind > KIND_MAX) return this.fail(new PeerProtocolError('kind', `unknown frame kind ${kind}`));
    const requestId = buf.readUInt32BE(start + 10);
    this.pos = end;
    return { kind: kind as FrameKind, requestId, payload: buf.subarray(start + FRAME_HEADER_BYTES, end) };
  }

  private fail(e: PeerProtocolError): never {
    this.failed = e;
    throw e;
  }
}
