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
  /** A view into received bytes (never overwritten by the decoder). */
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
  /**
   * Received bytes not yet returned, as the chunks they arrived in: a large frame arriving in
   * many chunks is joined once when complete, not re-copied on every chunk.
   */
  private chunks: Buffer[] = [];
  private total = 0;
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
    return this.total;
  }

  push(chunk: Buffer): void {
    if (this.failed !== undefined) throw this.failed;
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  next(): Frame | undefined {
    if (this.failed !== undefined) throw this.failed;
    if (this.total < 4) return undefined;
    let buf = this.joinFirst(Math.min(this.total, 9));
    const bodyLength = buf.readUInt32BE(0);
    if (bodyLength < BODY_MIN) return this.fail(new PeerProtocolError('malformed', `frame body of ${bodyLength} bytes is shorter than its header`));
    if (4 + bodyLength > this.frameBytesMax) {
      return this.fail(new PeerProtocolError('oversize', `frame of ${4 + bodyLength} bytes exceeds the maximum of ${this.frameBytesMax}`));
    }
    if (buf.length < 9) return undefined;
    const version = buf[8] as number;
    if (version !== PEER_PROTOCOL_MAJOR) {
      return this.fail(new PeerProtocolError('version', `peer speaks protocol major ${version}, this node speaks ${PEER_PROTOCOL_MAJOR}`, version));
    }
    const end = 4 + bodyLength;
    if (this.total < end) return undefined;
    buf = this.joinFirst(end);
    if (crc32c(buf, 8, end) !== buf.readUInt32BE(4)) {
      return this.fail(new PeerProtocolError('checksum', 'frame checksum mismatch'));
    }
    const kind = buf[9] as number;
    if (kind < 1 || kind > KIND_MAX) return this.fail(new PeerProtocolError('kind', `unknown frame kind ${kind}`));
    const requestId = buf.readUInt32BE(10);
    // Consume the frame.
    if (buf.length === end) this.chunks.shift();
    else this.chunks[0] = buf.subarray(end);
    this.total -= end;
    return { kind: kind as FrameKind, requestId, payload: buf.subarray(FRAME_HEADER_BYTES, end) };
  }

  /** Makes the first chunk at least `n` bytes long (n <= total) and returns it. */
  private joinFirst(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) return first;
    let count = 0;
    let bytes = 0;
    while (bytes < n) bytes += (this.chunks[count++] as Buffer).length;
    const joined = Buffer.concat(this.chunks.slice(0, count), bytes);
    this.chunks.splice(0, count, joined);
    return joined;
  }

  private fail(e: PeerProtocolError): never {
    this.failed = e;
    this.chunks = [];
    this.total = 0;
    throw e;
  }
}
