/**
 * One TCP connection to one peer: frame decoding, batched writes, the requests it carries and the
 * requests it is serving. The transport (peer-transport.ts) decides which connection is the one
 * in use for a peer; this class knows nothing of other connections.
 *
 * States: handshaking -> open -> draining -> closed (any state may jump to closed).
 * - handshaking: only hello/helloAck/reject frames are allowed, the frame limit is small;
 * - open: carries messages and requests both ways;
 * - draining: after a goaway (sent or received): no new requests or messages go out, answers
 *   still do; the socket is ended once our requests are answered and our handlers finished;
 * - closed: every request still waiting is rejected (ERR_MAYBE_APPLIED: it was written and the
 *   peer may have processed it).
 *
 * Frames written in one tick are concatenated and handed to the socket on the next tick (or at
 * 64 KiB), so a burst of pipelined requests costs one stream write rather than one per frame.
 */
import type net from 'node:net';
import { RingkvError, toClientError } from '../../errors/index.js';
import { FRAME_HEADER_BYTES, FrameDecoder, FrameKind, PeerProtocolError, encodeFrame, type Frame } from '../../protocol/peer/frame.js';
import { decodeErrorReply, packPayload, unpackPayload } from '../../protocol/peer/payload.js';

export type ConnectionState = 'handshaking' | 'open' | 'draining' | 'closed';
export type Direction = 'inbound' | 'outbound';

/** Largest frame accepted before the handshake completes. */
export const HANDSHAKE_FRAME_BYTES_MAX = 4096;
/** Pending output above which frames are handed to the socket without waiting for the tick. */
const OUT_FLUSH_BYTES = 64 * 1024;

interface Pending {
  resolve: (reply: unknown) => void;
  reject: (err: RingkvError) => void;
  timer: NodeJS.Timeout;
}

export interface ConnectionCounters {
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
}

export interface ConnectionHooks {
  /** A handshake frame (hello, helloAck, reject) while handshaking. */
  onHandshakeFrame(conn: PeerConnection, frame: Frame): void;
  onMessage(conn: PeerConnection, msg: unknown): void;
  onRequest(conn: PeerConnection, msg: unknown): Promise<unknown>;
  /** A request slot was freed (answer, timeout): the transport may send waiting requests. */
  onWindowFreed(conn: PeerConnection): void;
  /** The peer stops sending: `announced` = with a goaway frame, else its stream just ended. */
  onGoaway(conn: PeerConnection, announced: boolean): void;
  /** Returns a last frame to send before the connection is closed, if any. */
  onProtocolError(conn: PeerConnection, err: PeerProtocolError): Buffer | undefined;
  onClose(conn: PeerConnection): void;
}

export class PeerConnection {
  state: ConnectionState = 'handshaking';
  /** Known from the address book for outbound connections, from the hello for inbound ones. */
  remoteId: string | undefined;
  /** Outbound only: TCP connected and our hello written (the peer may act on it now). */
  helloSent = false;
  /** The minor version agreed in the handshake (the lower of the two). */
  minor = 0;
  lastReceivedMs: number;
  lastSentMs: number;
  readonly pending = new Map<number, Pending>();
  handlersInFlight = 0;

  private readonly decoder: FrameDecoder;
  private nextRequestId = 1;
  /** Frames written this tick, sent as one buffer on the next (one stream write, not one per frame). */
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  private readonly flushFn = (): void => {
    this.flushScheduled = false;
    this.flush();
  };
  private ended = false;
  /** A protocol error was seen: ignore whatever else arrives. */
  private failed = false;

  constructor(
    readonly socket: net.Socket,
    readonly direction: Direction,
    private readonly frameBytesMax: number,
    private readonly inFlightMax: number,
    private readonly hooks: ConnectionHooks,
    private readonly counters: ConnectionCounters,
    private readonly now: () => number,
  ) {
    this.decoder = new FrameDecoder(Math.min(HANDSHAKE_FRAME_BYTES_MAX, frameBytesMax));
    this.lastReceivedMs = now();
    this.lastSentMs = this.lastReceivedMs;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', () => {
      /* 'close' follows; the transport logs connection losses there */
    });
    socket.on('close', () => this.onSocketClose());
  }

  /** Bytes written and not yet on the wire (this tick's frames plus the socket's buffer). */
  get bufferedBytes(): number {
    return this.outBytes + this.socket.writableLength;
  }

  get windowFree(): number {
    return this.inFlightMax - this.pending.size;
  }

  /** Handshake done: lift the frame limit and start carrying traffic. */
  open(remoteId: string, minor: number): void {
    this.remoteId = remoteId;
    this.minor = minor;
    this.state = 'open';
    this.decoder.setFrameBytesMax(this.frameBytesMax);
  }

  writeFrame(kind: FrameKind, requestId: number, payload: Uint8Array | undefined): void {
    if (this.state === 'closed' || this.ended) return;
    const frameBytes = FRAME_HEADER_BYTES + (payload?.length ?? 0);
    if (frameBytes > this.frameBytesMax) {
      throw new RingkvError('ERR_VALUE_TOO_LARGE', `peer frame of ${frameBytes} bytes exceeds the maximum of ${this.frameBytesMax}`);
    }
    const frame = encodeFrame(kind, requestId, payload);
    this.out.push(frame);
    this.outBytes += frame.length;
    if (this.outBytes >= OUT_FLUSH_BYTES) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushFn);
    }
    this.counters.framesSent++;
    this.counters.bytesSent += frame.length;
    this.lastSentMs = this.now();
  }

  /** Hands the frames of this tick to the socket. */
  flush(): void {
    if (this.outBytes === 0) return;
    const chunk = this.out.length === 1 ? (this.out[0] as Buffer) : Buffer.concat(this.out, this.outBytes);
    this.out = [];
    this.outBytes = 0;
    if (!this.socket.destroyed) this.socket.write(chunk);
  }

  /** Fire and forget. Throws ERR_VALUE_TOO_LARGE for a message over the frame limit. */
  sendMessage(msg: unknown): void {
    this.writeFrame(FrameKind.message, 0, packPayload(msg));
  }

  /** The caller checked `state === 'open'` and the window. */
  request(msg: unknown, timeoutMs: number, resolve: (reply: unknown) => void, reject: (err: RingkvError) => void): void {
    const payload = packPayload(msg);
    let id = this.nextRequestId;
    this.nextRequestId = id >= 0xffffffff ? 1 : id + 1;
    while (this.pending.has(id)) id = id >= 0xffffffff ? 1 : id + 1;
    this.writeFrame(FrameKind.request, id, payload);
    const timer = setTimeout(() => {
      if (this.pending.delete(id)) {
        reject(new RingkvError('ERR_TIMEOUT', `peer ${this.remoteId ?? '?'} did not answer within ${timeoutMs} ms; it may have processed the request`));
        this.afterRequestSettled();
      }
    }, timeoutMs);
    this.pending.set(id, { resolve, reject, timer });
  }

  /** Stop carrying new traffic; end the socket once nothing is owed either way. */
  drain(sendGoaway: boolean): void {
    if (this.state === 'closed') return;
    if (sendGoaway && this.state !== 'draining') this.writeFrame(FrameKind.goaway, 0, undefined);
    this.state = 'draining';
    this.maybeFinishDrain();
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ---- receive path ---------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.state === 'closed' || this.failed) return;
    this.lastReceivedMs = this.now();
    this.counters.bytesReceived += chunk.length;
    try {
      this.decoder.push(chunk);
      for (let frame = this.decoder.next(); frame !== undefined; frame = this.decoder.next()) {
        this.counters.framesReceived++;
        this.onFrame(frame);
        if ((this.state as ConnectionState) === 'closed' || this.failed) return; // a handler may close it
      }
    } catch (e) {
      const err = e instanceof PeerProtocolError ? e : new PeerProtocolError('payload', e instanceof Error ? e.message : String(e));
      this.failed = true;
      const farewell = this.hooks.onProtocolError(this, err);
      if (farewell === undefined) {
        this.socket.destroy();
      } else {
        // Flush the farewell, then close; never wait on the peer for long.
        this.flush();
        this.ended = true;
        this.socket.end(farewell);
        setTimeout(() => this.socket.destroy(), 1000).unref();
      }
    }
  }

  private onFrame(frame: Frame): void {
    const kind = frame.kind;
    if (this.state === 'handshaking') {
      if (kind === FrameKind.hello || kind === FrameKind.helloAck || kind === FrameKind.reject) {
        this.hooks.onHandshakeFrame(this, frame);
        return;
      }
      throw new PeerProtocolError('handshake', `frame kind ${kind} before the handshake completed`);
    }
    switch (kind) {
      case FrameKind.hello:
      case FrameKind.helloAck:
      case FrameKind.reject:
        throw new PeerProtocolError('handshake', `handshake frame kind ${kind} on an open connection`);
      case FrameKind.message:
        this.hooks.onMessage(this, unpackPayload(frame.payload));
        return;
      case FrameKind.request:
        this.serve(frame.requestId, unpackPayload(frame.payload));
        return;
      case FrameKind.response:
        this.settle(frame.requestId, unpackPayload(frame.payload), undefined);
        return;
      case FrameKind.errorResponse: {
        const er = decodeErrorReply(frame.payload);
        this.settle(frame.requestId, undefined, new RingkvError(er.code, er.message));
        return;
      }
      case FrameKind.ping:
        this.writeFrame(FrameKind.pong, 0, undefined);
        return;
      case FrameKind.pong:
        return;
      case FrameKind.goaway:
        this.hooks.onGoaway(this, true);
        this.drain(false);
        return;
      default: {
        const never: never = kind;
        throw new PeerProtocolError('kind', `unknown frame kind ${String(never)}`);
      }
    }
  }

  private serve(requestId: number, msg: unknown): void {
    if (this.handlersInFlight >= this.inFlightMax) {
      // The peer ignored its window; answer without running the handler.
      this.writeFrame(FrameKind.errorResponse, requestId, packPayload({ code: 'ERR_OVERLOADED', message: 'too many peer requests in flight' }));
      return;
    }
    this.handlersInFlight++;
    let p: Promise<unknown>;
    try {
      p = this.hooks.onRequest(this, msg);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (reply) => {
        this.handlersInFlight--;
        try {
          this.writeFrame(FrameKind.response, requestId, packPayload(reply));
        } catch (e) {
          const err = toClientError(e);
          this.writeFrame(FrameKind.errorResponse, requestId, packPayload({ code: err.code, message: err.message }));
        }
        this.maybeFinishDrain();
      },
      (e: unknown) => {
        this.handlersInFlight--;
        const err = toClientError(e);
        this.writeFrame(FrameKind.errorResponse, requestId, packPayload({ code: err.code, message: err.message }));
        this.maybeFinishDrain();
      },
    );
  }

  private settle(requestId: number, reply: unknown, err: RingkvError | undefined): void {
    const p = this.pending.get(requestId);
    if (p === undefined) return; // late answer to a request that timed out
    this.pending.delete(requestId);
    clearTimeout(p.timer);
    if (err === undefined) p.resolve(reply);
    else p.reject(err);
    this.afterRequestSettled();
  }

  private afterRequestSettled(): void {
    if (this.state === 'open') this.hooks.onWindowFreed(this);
    else this.maybeFinishDrain();
  }

  private maybeFinishDrain(): void {
    if (this.state !== 'draining' || this.ended) return;
    if (this.pending.size > 0 || this.handlersInFlight > 0) return;
    this.ended = true;
    // The goaway and last answers go out before the FIN.
    this.flush();
    this.socket.end();
  }

  private onEnd(): void {
    if (this.state === 'handshaking') {
      this.socket.destroy();
      return;
    }
    // The peer will send nothing more: it is going away even if its goaway was lost.
    if (this.state === 'open') this.hooks.onGoaway(this, false);
    this.state = 'draining';
    // Requests of ours it has not answered never will be.
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new RingkvError('ERR_MAYBE_APPLIED', `peer ${this.remoteId ?? '?'} closed the connection with the request in flight; it may have processed it`));
    }
    this.maybeFinishDrain();
  }

  private onSocketClose(): void {
    this.state = 'closed';
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new RingkvError('ERR_MAYBE_APPLIED', `connection to peer ${this.remoteId ?? '?'} lost with the request in flight; it may have processed it`));
    }
    this.hooks.onClose(this);
  }
}
