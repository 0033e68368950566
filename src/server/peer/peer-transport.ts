/**
 * PeerTransport: the IO shell carrying peer messages between ringkv nodes over TCP. Messages
 * are opaque msgpack-encodable values (the core's PeerMessage, membership and anti-entropy
 * messages); nothing here interprets them.
 *
 * Guarantees and rules:
 * - One connection per peer pair. Both nodes may dial at once; the connection dialed by the
 *   node with the lower id wins, decided during the handshake before any traffic flows on the
 *   new connection: an acceptor whose own outbound connection to that peer is open, or connected
 *   with its hello sent, rejects the inbound hello as `duplicate` when its id is the lower, and
 *   otherwise drops its own dial (as it does a dial that has not connected yet).
 *   A hello from a peer that already has an inbound connection replaces it (the peer lost it,
 *   e.g. it restarted).
 * - Handshake: the dialer sends hello {nodeId, clusterName, major, minor}; the acceptor answers
 *   helloAck or reject. A different cluster name or node-id mismatch is refused; frames of an
 *   unknown major are refused by the frame decoder and logged as a version mismatch; any minor
 *   of our major is accepted and the lower one is agreed (rolling upgrades).
 * - send(): fire and forget; returns false (the message is dropped) when the peer is not
 *   connected or its socket holds more than `writeBufferBytesMax` unsent bytes.
 * - request(): at most `inFlightMax` unanswered requests per connection; beyond it callers wait
 *   in a per-peer queue of at most `queuedRequestsMax` (then ERR_OVERLOADED at once). Errors say
 *   whether the request happened: ERR_UNAVAILABLE / ERR_OVERLOADED / ERR_SHUTTING_DOWN = never
 *   sent; ERR_TIMEOUT / ERR_MAYBE_APPLIED = sent, the peer may have processed it; any other
 *   code = the peer's handler failed with it.
 * - Peers in the address book are dialed eagerly and redialed after a loss with exponential
 *   backoff (base * 2^attempt, capped, "equal jitter": half fixed, half random).
 * - Liveness: a ping goes out on a connection idle for `pingIntervalMs`; a connection that
 *   received nothing for `idleTimeoutMs` is closed (catches peers that vanished without FIN).
 * - Protocol errors (garbage, oversize, bad checksum, wrong version) close only the offending
 *   connection and are counted; the node keeps serving everyone else.
 *
 * - Discovery: connectAddress(host, port) dials an address whose node id is not known yet (a
 *   seed); the id comes from the peer's helloAck (or from a `duplicate` reject, which names the
 *   refusing node), and the connection then serves that peer like any other. `onPeerConnected`
 *   tells the owner each time a peer's connection opens (it may exchange addresses then).
 *
 * Lifecycle: construct, listen(), setPeers(); close(timeoutMs) sends goaway everywhere, lets
 * requests in both directions finish, then ends sockets (destroying what is left at the
 * deadline); destroy() drops everything at once.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { NodeId } from '../../core/types.js';
import { RingkvError, type ErrorCode } from '../../errors/index.js';
import { FrameKind, PEER_PROTOCOL_MAJOR, PEER_PROTOCOL_MINOR, PeerProtocolError, encodeFrame, type Frame } from '../../protocol/peer/frame.js';
import { decodeHello, decodeReject, packPayload, type Hello, type RejectReason } from '../../protocol/peer/payload.js';
import { PeerConnection, type ConnectionCounters } from './peer-connection.js';

export type PeerConfig = Config['peer'];

export interface PeerAddress {
  host: string;
  port: number;
}

export interface PeerTransportOptions {
  nodeId: string;
  /** Address to listen on; the port comes from config.peer.port unless given here. */
  host: string;
  port?: number;
  config: PeerConfig;
  logger: Logger;
  /** Messages are unvalidated wire data: the receiver checks their shape. */
  onMessage: (from: NodeId, msg: unknown) => void;
  onRequest: (from: NodeId, msg: unknown) => Promise<unknown>;
  /** Called each time a peer's connection opens (after the handshake). */
  onPeerConnected?: (peer: NodeId) => void;
  /** The minor this node announces (tests simulate older and newer nodes with it). */
  protocolMinor?: number;
  /** Monotonic-enough wall clock, ms. */
  now?: () => number;
  /** [0, 1), for backoff jitter. */
  random?: () => number;
}

export interface PeerTransportStats extends ConnectionCounters {
  peersConnected: number;
  connectionsAccepted: number;
  connectionsDialed: number;
  handshakesCompleted: number;
  handshakesRejected: number;
  duplicatesResolved: number;
  protocolErrors: number;
  connectionsLost: number;
  messagesSent: number;
  messagesDropped: number;
  messagesReceived: number;
  requestsSent: number;
  requestsServed: number;
  requestsQueued: number;
  requestsOverloaded: number;
}

export interface PeerStats {
  connected: boolean;
  direction: 'inbound' | 'outbound' | null;
  localPort: number | null;
  remotePort: number | null;
  inFlight: number;
  queued: number;
  minor: number | null;
  reconnectAttempt: number;
}

interface Waiter {
  msg: unknown;
  deadlineMs: number;
  resolve: (reply: unknown) => void;
  reject: (err: RingkvError) => void;
  timer: NodeJS.Timeout;
}

/** A dial by address whose node id is learned in the handshake. */
interface Discovery {
  address: PeerAddress;
  resolve: (id: NodeId) => void;
  reject: (err: RingkvError) => void;
  timer: NodeJS.Timeout;
}

interface PeerSlot {
  id: string;
  address: PeerAddress | undefined;
  /** The connection carrying traffic (state open). */
  active: PeerConnection | undefined;
  /** Our outbound connection while it connects and handshakes. */
  dialing: PeerConnection | undefined;
  dialTimer: NodeJS.Timeout | undefined;
  reconnectTimer: NodeJS.Timeout | undefined;
  attempt: number;
  waiters: Waiter[];
}

export class PeerTransport {
  readonly nodeId: string;
  /** The bound port once listening. */
  port: number | undefined;

  private readonly cfg: PeerConfig;
  private readonly logger: Logger;
  private readonly host: string;
  private readonly listenPort: number;
  private readonly minor: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly onMessageFn: (from: NodeId, msg: unknown) => void;
  private readonly onRequestFn: (from: NodeId, msg: unknown) => Promise<unknown>;
  private readonly onPeerConnectedFn: ((peer: NodeId) => void) | undefined;
  private readonly discoveries = new Map<PeerConnection, Discovery>();
  private readonly server: net.Server;
  private readonly slots = new Map<string, PeerSlot>();
  private readonly connections = new Set<PeerConnection>();
  private readonly counters: PeerTransportStats = {
    framesSent: 0, framesReceived: 0, bytesSent: 0, bytesReceived: 0,
    peersConnected: 0, connectionsAccepted: 0, connectionsDialed: 0, handshakesCompleted: 0,
    handshakesRejected: 0, duplicatesResolved: 0, protocolErrors: 0, connectionsLost: 0,
    messagesSent: 0, messagesDropped: 0, messagesReceived: 0, requestsSent: 0, requestsServed: 0,
    requestsQueued: 0, requestsOverloaded: 0,
  };
  private readonly livenessTimer: NodeJS.Timeout;
  private listening = false;
  private closing = false;
  private closingPromise: Promise<void> | undefined;
  private onAllClosed: (() => void) | undefined;

  constructor(opts: PeerTransportOptions) {
    if (opts.nodeId.length === 0 || opts.nodeId.length > 255) throw new RangeError('nodeId must be 1..255 characters');
    if (opts.config.pingIntervalMs >= opts.config.idleTimeoutMs || opts.config.backoffBaseMs > opts.config.backoffMaxMs) {
      throw new RingkvError('ERR_CONFIG', 'peer config: pingIntervalMs must be below idleTimeoutMs and backoffBaseMs at most backoffMaxMs');
    }
    this.nodeId = opts.nodeId;
    this.cfg = opts.config;
    this.logger = opts.logger;
    this.host = opts.host;
    this.listenPort = opts.port ?? opts.config.port;
    this.minor = opts.protocolMinor ?? PEER_PROTOCOL_MINOR;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.onMessageFn = opts.onMessage;
    this.onRequestFn = opts.onRequest;
    this.onPeerConnectedFn = opts.onPeerConnected;
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    this.server.on('error', (err) => this.logger.error({ err }, 'peer listener error'));
    this.livenessTimer = setInterval(() => this.checkLiveness(), Math.max(10, Math.floor(this.cfg.pingIntervalMs / 2)));
    this.livenessTimer.unref();
  }

  // ---- lifecycle --------------------------------------------------------------------------

  listen(): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.host, port: this.listenPort }, () => {
        this.server.off('error', onError);
        this.listening = true;
        const addr = this.server.address();
        this.port = typeof addr === 'object' && addr !== null ? addr.port : this.listenPort;
        this.logger.info({ host: this.host, port: this.port, nodeId: this.nodeId }, 'peer transport listening');
        resolve({ port: this.port });
      });
    });
  }

  /**
   * Replace the address book. New peers are dialed; peers no longer listed are closed
   * gracefully and not redialed. A peer may also connect to us without being listed.
   */
  setPeers(peers: ReadonlyMap<string, PeerAddress> | Record<string, PeerAddress>): void {
    const next = peers instanceof Map ? peers : new Map(Object.entries(peers));
    for (const [id, slot] of this.slots) {
      if (!next.has(id) && slot.address !== undefined) {
        slot.address = undefined;
        this.cancelDial(slot);
        const a = slot.active;
        slot.active = undefined;
        a?.drain(true);
        this.rejectWaiters(slot, 'ERR_UNAVAILABLE', `peer ${id} was removed from the address book`);
      }
    }
    for (const [id, address] of next) {
      if (id === this.nodeId) continue;
      const slot = this.slot(id);
      const changed = slot.address === undefined || slot.address.host !== address.host || slot.address.port !== address.port;
      slot.address = { host: address.host, port: address.port };
      if (changed) {
        slot.attempt = 0;
        if (slot.reconnectTimer !== undefined) clearTimeout(slot.reconnectTimer);
        slot.reconnectTimer = undefined;
      }
      this.ensureConnected(slot);
    }
  }

  /** Graceful close; whatever is still open after `timeoutMs` is destroyed. */
  close(timeoutMs: number): Promise<void> {
    if (this.closingPromise !== undefined) return this.closingPromise;
    this.closing = true;
    clearInterval(this.livenessTimer);
    this.closingPromise = new Promise<void>((resolve) => {
      const serverClosed = new Promise<void>((r) => {
        if (!this.listening) r();
        else this.server.close(() => r());
      });
      for (const slot of this.slots.values()) {
        this.cancelDial(slot);
        this.rejectWaiters(slot, 'ERR_SHUTTING_DOWN', 'this node is shutting down');
      }
      for (const c of this.connections) {
        if (c.state === 'handshaking') c.destroy();
        else c.drain(true);
      }
      const timer = setTimeout(() => {
        for (const c of this.connections) c.destroy();
      }, timeoutMs);
      timer.unref();
      const allClosed = new Promise<void>((r) => {
        if (this.connections.size === 0) r();
        else this.onAllClosed = r;
      });
      void Promise.all([serverClosed, allClosed]).then(() => {
        clearTimeout(timer);
        this.listening = false;
        this.logger.info({ nodeId: this.nodeId }, 'peer transport closed');
        resolve();
      });
    });
    return this.closingPromise;
  }

  destroy(): void {
    this.closing = true;
    clearInterval(this.livenessTimer);
    if (this.listening) this.server.close();
    this.listening = false;
    for (const slot of this.slots.values()) {
      this.cancelDial(slot);
      this.rejectWaiters(slot, 'ERR_SHUTTING_DOWN', 'this node is shutting down');
    }
    for (const c of this.connections) c.destroy();
  }

  // ---- traffic ----------------------------------------------------------------------------

  /** Fire and forget. False when the message was dropped (not connected, or the socket is backed up). */
  send(to: string, msg: unknown): boolean {
    const slot = this.slots.get(to);
    const conn = slot?.active;
    if (slot === undefined || conn === undefined || conn.state !== 'open' || conn.bufferedBytes > this.cfg.writeBufferBytesMax) {
      this.counters.messagesDropped++;
      if (slot !== undefined) this.ensureConnected(slot);
      return false;
    }
    conn.sendMessage(msg);
    this.counters.messagesSent++;
    return true;
  }

  /** Request/response; see the header for what each error code says about delivery. */
  request(to: string, msg: unknown, timeoutMs: number = this.cfg.requestTimeoutMs): Promise<unknown> {
    if (this.closing) return Promise.reject(new RingkvError('ERR_SHUTTING_DOWN', 'this node is shutting down'));
    if (!(timeoutMs > 0)) throw new RangeError('timeoutMs must be positive');
    const slot = this.slots.get(to);
    if (slot === undefined || (slot.address === undefined && slot.active === undefined)) {
      return Promise.reject(new RingkvError('ERR_UNAVAILABLE', `no address known for peer ${to}`));
    }
    const conn = slot.active;
    if (conn !== undefined && conn.state === 'open' && slot.waiters.length === 0 && conn.windowFree > 0) {
      return new Promise((resolve, reject) => {
        conn.request(msg, timeoutMs, resolve, reject);
        this.counters.requestsSent++;
      });
    }
    if (slot.waiters.length >= this.cfg.queuedRequestsMax) {
      this.counters.requestsOverloaded++;
      return Promise.reject(new RingkvError('ERR_OVERLOADED', `too many requests waiting for peer ${to}`));
    }
    this.ensureConnected(slot);
    this.counters.requestsQueued++;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        msg,
        deadlineMs: this.now() + timeoutMs,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = slot.waiters.indexOf(waiter);
          if (i === -1) return;
          slot.waiters.splice(i, 1);
          if (slot.active !== undefined) {
            this.counters.requestsOverloaded++;
            reject(new RingkvError('ERR_OVERLOADED', `request to peer ${to} waited ${timeoutMs} ms for a free slot; not sent`));
          } else {
            reject(new RingkvError('ERR_UNAVAILABLE', `peer ${to} not connected within ${timeoutMs} ms; not sent`));
          }
        }, timeoutMs),
      };
      slot.waiters.push(waiter);
    });
  }

  /**
   * Dials `address` without knowing who listens there and resolves with the peer's node id once
   * the handshake completes; the connection is then the peer's active one and the address is
   * kept for redials. Rejects ERR_UNAVAILABLE when the dial, the handshake or the peer refuses
   * (the message says why: wrong cluster name, version, this node's own address, ...).
   */
  connectAddress(address: PeerAddress): Promise<NodeId> {
    if (this.closing) return Promise.reject(new RingkvError('ERR_SHUTTING_DOWN', 'this node is shutting down'));
    return new Promise<NodeId>((resolve, reject) => {
      this.counters.connectionsDialed++;
      const socket = net.connect({ host: address.host, port: address.port, allowHalfOpen: true, noDelay: true });
      const conn = this.newConnection(socket, 'outbound');
      const where = `${address.host}:${address.port}`;
      const d: Discovery = {
        address: { host: address.host, port: address.port },
        resolve,
        reject,
        timer: setTimeout(() => {
          if (this.discoveries.get(conn) === d) {
            this.discoveries.delete(conn);
            reject(new RingkvError('ERR_UNAVAILABLE', `no peer handshake from ${where} within ${this.cfg.connectTimeoutMs} ms`));
            conn.destroy();
          }
        }, this.cfg.connectTimeoutMs),
      };
      this.discoveries.set(conn, d);
      socket.once('connect', () => {
        const hello: Hello = { nodeId: this.nodeId, clusterName: this.cfg.clusterName, major: PEER_PROTOCOL_MAJOR, minor: this.minor };
        conn.writeFrame(FrameKind.hello, 0, packPayload(hello));
        conn.helloSent = true;
      });
      socket.once('close', () => {
        if (this.discoveries.get(conn) === d) {
          this.discoveries.delete(conn);
          clearTimeout(d.timer);
          reject(new RingkvError('ERR_UNAVAILABLE', `peer at ${where} closed the connection before the handshake completed`));
        }
      });
    });
  }

  stats(): PeerTransportStats & { connections: number; peers: Record<string, PeerStats> } {
    const peers: Record<string, PeerStats> = {};
    let connected = 0;
    for (const [id, s] of this.slots) {
      const a = s.active;
      if (a !== undefined) connected++;
      peers[id] = {
        connected: a !== undefined,
        direction: a?.direction ?? null,
        localPort: a?.socket.localPort ?? null,
        remotePort: a?.socket.remotePort ?? null,
        inFlight: a?.pending.size ?? 0,
        queued: s.waiters.length,
        minor: a?.minor ?? null,
        reconnectAttempt: s.attempt,
      };
    }
    return { ...this.counters, peersConnected: connected, connections: this.connections.size, peers };
  }

  /** Destroys the connection to `peerId` as a network failure would (operators and tests). */
  dropConnection(peerId: string): boolean {
    const a = this.slots.get(peerId)?.active;
    a?.destroy();
    return a !== undefined;
  }

  /** Connected peer ids. */
  connectedPeers(): string[] {
    const out: string[] = [];
    for (const [id, s] of this.slots) if (s.active !== undefined) out.push(id);
    return out;
  }

  // ---- connections ------------------------------------------------------------------------

  private slot(id: string): PeerSlot {
    let s = this.slots.get(id);
    if (s === undefined) {
      s = { id, address: undefined, active: undefined, dialing: undefined, dialTimer: undefined, reconnectTimer: undefined, attempt: 0, waiters: [] };
      this.slots.set(id, s);
    }
    return s;
  }

  private newConnection(socket: net.Socket, direction: 'inbound' | 'outbound'): PeerConnection {
    const conn = new PeerConnection(socket, direction, this.cfg.frameBytesMax, this.cfg.inFlightMax, {
      onHandshakeFrame: (c, f) => this.onHandshakeFrame(c, f),
      onMessage: (c, m) => {
        this.counters.messagesReceived++;
        try {
          this.onMessageFn(c.remoteId as NodeId, m);
        } catch (err) {
          this.logger.error({ err, peer: c.remoteId }, 'peer message handler threw');
        }
      },
      onRequest: (c, m) => {
        this.counters.requestsServed++;
        return this.onRequestFn(c.remoteId as NodeId, m);
      },
      onWindowFreed: (c) => this.pump(c),
      onGoaway: (c, announced) => this.retire(c, announced),
      onProtocolError: (c, e) => this.onProtocolError(c, e),
      onClose: (c) => this.onConnectionClose(c),
    }, this.counters, this.now);
    this.connections.add(conn);
    return conn;
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.counters.connectionsAccepted++;
    const conn = this.newConnection(socket, 'inbound');
    const timer = setTimeout(() => {
      if (conn.state === 'handshaking') {
        this.logger.warn({ remote: socket.remoteAddress }, 'peer handshake timed out');
        conn.destroy();
      }
    }, this.cfg.connectTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  private ensureConnected(slot: PeerSlot): void {
    if (this.closing || slot.address === undefined || slot.active !== undefined || slot.dialing !== undefined || slot.reconnectTimer !== undefined) return;
    this.dial(slot, slot.address);
  }

  private dial(slot: PeerSlot, address: PeerAddress): void {
    this.counters.connectionsDialed++;
    const socket = net.connect({ host: address.host, port: address.port, allowHalfOpen: true, noDelay: true });
    const conn = this.newConnection(socket, 'outbound');
    conn.remoteId = slot.id;
    slot.dialing = conn;
    slot.dialTimer = setTimeout(() => {
      if (slot.dialing === conn) {
        this.logger.warn({ peer: slot.id, ...address }, 'peer connect timed out');
        conn.destroy();
      }
    }, this.cfg.connectTimeoutMs);
    socket.once('connect', () => {
      const hello: Hello = { nodeId: this.nodeId, clusterName: this.cfg.clusterName, major: PEER_PROTOCOL_MAJOR, minor: this.minor };
      conn.writeFrame(FrameKind.hello, 0, packPayload(hello));
      conn.helloSent = true;
    });
  }

  private cancelDial(slot: PeerSlot): void {
    if (slot.reconnectTimer !== undefined) clearTimeout(slot.reconnectTimer);
    slot.reconnectTimer = undefined;
    if (slot.dialTimer !== undefined) clearTimeout(slot.dialTimer);
    slot.dialTimer = undefined;
    const d = slot.dialing;
    slot.dialing = undefined;
    d?.destroy();
  }

  private scheduleReconnect(slot: PeerSlot): void {
    if (this.closing || slot.address === undefined || slot.active !== undefined || slot.dialing !== undefined || slot.reconnectTimer !== undefined) return;
    const capped = Math.min(this.cfg.backoffMaxMs, this.cfg.backoffBaseMs * 2 ** Math.min(slot.attempt, 30));
    const delayMs = Math.round(capped / 2 + this.random() * (capped / 2));
    slot.attempt++;
    this.logger.debug({ peer: slot.id, attempt: slot.attempt, delayMs }, 'peer redial scheduled');
    slot.reconnectTimer = setTimeout(() => {
      slot.reconnectTimer = undefined;
      this.ensureConnected(slot);
    }, delayMs);
    slot.reconnectTimer.unref();
  }

  private onHandshakeFrame(conn: PeerConnection, frame: Frame): void {
    if (conn.direction === 'inbound') {
      if (frame.kind !== FrameKind.hello) throw new HandshakeViolation(frame.kind);
      this.onHello(conn, decodeHello(frame.payload));
      return;
    }
    const discovery = this.discoveries.get(conn);
    if (discovery !== undefined) {
      this.onDiscoveryFrame(conn, discovery, frame);
      return;
    }
    const slot = this.slots.get(conn.remoteId as string);
    if (frame.kind === FrameKind.reject) {
      const r = decodeReject(frame.payload);
      this.counters.handshakesRejected++;
      if (r.reason === 'duplicate') {
        this.counters.duplicatesResolved++;
        this.logger.debug({ peer: conn.remoteId }, 'peer kept the other connection of a simultaneous dial');
      } else {
        this.logger.error({ peer: conn.remoteId, reason: r.reason }, `peer refused our handshake: ${r.message}`);
      }
      conn.destroy();
      return;
    }
    if (frame.kind !== FrameKind.helloAck) throw new HandshakeViolation(frame.kind);
    const hello = decodeHello(frame.payload);
    const problem = this.checkHello(hello);
    if (problem !== undefined || hello.nodeId !== conn.remoteId) {
      const message = problem?.message ?? `expected node ${String(conn.remoteId)} at this address, found ${hello.nodeId}`;
      this.counters.handshakesRejected++;
      this.logger.error({ peer: conn.remoteId, announced: hello.nodeId }, `refusing peer: ${message}`);
      conn.destroy();
      return;
    }
    if (slot === undefined || slot.dialing !== conn) {
      conn.destroy(); // superseded while handshaking
      return;
    }
    if (slot.dialTimer !== undefined) clearTimeout(slot.dialTimer);
    slot.dialTimer = undefined;
    slot.dialing = undefined;
    if (slot.active !== undefined) {
      // Cannot normally happen (an accepted inbound cancels our dial); keep the rule anyway.
      if (this.nodeId < slot.id) this.replaceActive(slot);
      else {
        this.counters.duplicatesResolved++;
        conn.drain(true);
        return;
      }
    }
    this.activate(slot, conn, hello.minor);
  }

  /** The answer to a connectAddress dial: adopt the connection for the id the peer announced. */
  private onDiscoveryFrame(conn: PeerConnection, d: Discovery, frame: Frame): void {
    this.discoveries.delete(conn);
    clearTimeout(d.timer);
    const where = `${d.address.host}:${d.address.port}`;
    if (frame.kind === FrameKind.reject) {
      const r = decodeReject(frame.payload);
      conn.destroy();
      if (r.reason === 'duplicate' && r.nodeId !== undefined && r.nodeId !== this.nodeId) {
        // The peer already holds a connection to us (its own dial won): that is its id.
        this.counters.duplicatesResolved++;
        const slot = this.slot(r.nodeId);
        slot.address ??= d.address;
        d.resolve(r.nodeId as NodeId);
        return;
      }
      this.counters.handshakesRejected++;
      d.reject(new RingkvError('ERR_UNAVAILABLE', `peer at ${where} refused the handshake (${r.reason}): ${r.message}`));
      return;
    }
    if (frame.kind !== FrameKind.helloAck) throw new HandshakeViolation(frame.kind);
    const hello = decodeHello(frame.payload);
    const problem = this.checkHello(hello);
    if (problem !== undefined) {
      this.counters.handshakesRejected++;
      conn.destroy();
      d.reject(new RingkvError('ERR_UNAVAILABLE', `refusing peer at ${where}: ${problem.message}`));
      return;
    }
    const slot = this.slot(hello.nodeId);
    slot.address ??= d.address;
    conn.remoteId = hello.nodeId;
    // The peer accepted this connection as ours and dropped any other it held from us.
    if (slot.dialing !== undefined) this.cancelDial(slot);
    if (slot.active !== undefined) this.replaceActive(slot);
    this.activate(slot, conn, hello.minor);
    d.resolve(hello.nodeId as NodeId);
  }

  private onHello(conn: PeerConnection, hello: Hello): void {
    const problem = this.checkHello(hello);
    if (problem !== undefined) {
      this.logger.error({ announced: hello.nodeId, clusterName: hello.clusterName, major: hello.major, minor: hello.minor }, `refusing peer: ${problem.message}`);
      this.rejectHandshake(conn, problem.reason, problem.message);
      return;
    }
    if (this.closing) {
      this.rejectHandshake(conn, 'shutting_down', 'node is shutting down');
      return;
    }
    const slot = this.slot(hello.nodeId);
    conn.remoteId = hello.nodeId;
    // A dial of ours that has not even connected cannot be chosen by the peer (it never saw our
    // hello), so it does not compete: dropping it avoids refusing a peer while we wait on a
    // stale address.
    const existing = slot.active ?? (slot.dialing?.helloSent === true ? slot.dialing : undefined);
    if (existing !== undefined && existing.direction === 'outbound' && this.nodeId < hello.nodeId) {
      // Our dial wins: the lower id's outbound connection is the one both sides keep.
      this.counters.duplicatesResolved++;
      this.rejectHandshake(conn, 'duplicate', 'the connection dialed by the lower node id is kept', this.nodeId);
      return;
    }
    if (slot.dialing !== undefined) {
      this.counters.duplicatesResolved++;
      this.cancelDial(slot);
    }
    if (slot.active !== undefined) this.replaceActive(slot);
    const ack: Hello = { nodeId: this.nodeId, clusterName: this.cfg.clusterName, major: PEER_PROTOCOL_MAJOR, minor: this.minor };
    conn.writeFrame(FrameKind.helloAck, 0, packPayload(ack));
    this.activate(slot, conn, hello.minor);
  }

  private checkHello(hello: Hello): { reason: RejectReason; message: string } | undefined {
    if (hello.major !== PEER_PROTOCOL_MAJOR) {
      return { reason: 'version', message: `peer ${hello.nodeId} speaks protocol major ${hello.major}, this node speaks ${PEER_PROTOCOL_MAJOR}` };
    }
    if (hello.clusterName !== this.cfg.clusterName) {
      return { reason: 'cluster', message: `peer ${hello.nodeId} belongs to cluster "${hello.clusterName}", this node to "${this.cfg.clusterName}"` };
    }
    if (hello.nodeId === this.nodeId) return { reason: 'identity', message: `peer announces this node's own id ${hello.nodeId}` };
    return undefined;
  }

  private rejectHandshake(conn: PeerConnection, reason: RejectReason, message: string, nodeId?: string): void {
    this.counters.handshakesRejected++;
    conn.writeFrame(FrameKind.reject, 0, packPayload(nodeId === undefined ? { reason, message } : { reason, message, nodeId }));
    conn.drain(false);
  }

  private activate(slot: PeerSlot, conn: PeerConnection, peerMinor: number): void {
    const minor = Math.min(this.minor, peerMinor);
    conn.open(slot.id, minor);
    slot.active = conn;
    slot.attempt = 0;
    this.counters.handshakesCompleted++;
    if (peerMinor !== this.minor) {
      this.logger.warn({ peer: slot.id, peerMinor, ourMinor: this.minor, agreedMinor: minor }, 'peer runs a different protocol minor (rolling upgrade?)');
    }
    this.logger.info({ peer: slot.id, direction: conn.direction }, 'peer connected');
    this.pump(conn);
    if (this.onPeerConnectedFn !== undefined) {
      try {
        this.onPeerConnectedFn(slot.id as NodeId);
      } catch (err) {
        this.logger.error({ err, peer: slot.id }, 'peer connected handler threw');
      }
    }
  }

  /** The active connection of `slot` is superseded by a new one from the same peer. */
  private replaceActive(slot: PeerSlot): void {
    const old = slot.active;
    slot.active = undefined;
    if (old !== undefined) {
      this.logger.info({ peer: slot.id }, 'peer reconnected; dropping its previous connection');
      old.destroy();
    }
  }

  /** A goaway or end arrived: stop routing new traffic to `conn`. */
  private retire(conn: PeerConnection, announced: boolean): void {
    const slot = conn.remoteId === undefined ? undefined : this.slots.get(conn.remoteId);
    if (slot?.active === conn) {
      slot.active = undefined;
      if (announced) {
        this.logger.info({ peer: slot.id }, 'peer is going away');
      } else {
        this.counters.connectionsLost++;
        this.logger.warn({ peer: slot.id }, 'peer connection lost (closed without goaway)');
      }
      this.scheduleReconnect(slot);
      if (slot.address === undefined) this.rejectWaiters(slot, 'ERR_UNAVAILABLE', `peer ${slot.id} went away`);
    }
  }

  /** Send waiting requests while the window has room. */
  private pump(conn: PeerConnection): void {
    const slot = conn.remoteId === undefined ? undefined : this.slots.get(conn.remoteId);
    if (slot === undefined || slot.active !== conn) return;
    while (slot.waiters.length > 0 && conn.state === 'open' && conn.windowFree > 0) {
      const w = slot.waiters.shift() as Waiter;
      clearTimeout(w.timer);
      const remainingMs = Math.max(1, w.deadlineMs - this.now());
      try {
        conn.request(w.msg, remainingMs, w.resolve, w.reject);
        this.counters.requestsSent++;
      } catch (e) {
        // Only this request is at fault (e.g. over the frame limit); the connection is fine.
        w.reject(e instanceof RingkvError ? e : new RingkvError('ERR_INVALID_ARGUMENT', e instanceof Error ? e.message : String(e)));
      }
    }
  }

  private rejectWaiters(slot: PeerSlot, code: ErrorCode, message: string): void {
    const ws = slot.waiters.splice(0);
    for (const w of ws) {
      clearTimeout(w.timer);
      w.reject(new RingkvError(code, message));
    }
  }

  /** Returns a last frame to send before closing, if any. */
  private onProtocolError(conn: PeerConnection, err: PeerProtocolError): Buffer | undefined {
    this.counters.protocolErrors++;
    const fields = { peer: conn.remoteId, remote: conn.socket.remoteAddress, reason: err.reason, code: err.code };
    if (err.reason === 'version') {
      this.logger.error({ ...fields, peerMajor: err.peerVersion, ourMajor: PEER_PROTOCOL_MAJOR }, `refusing peer connection: ${err.message}`);
      // Tell it why, in our framing, before closing (a newer node can read our major's reject).
      return encodeFrame(FrameKind.reject, 0, packPayload({ reason: 'version', message: err.message }));
    }
    this.logger.warn(fields, `closing peer connection: ${err.message}`);
    return undefined;
  }

  private onConnectionClose(conn: PeerConnection): void {
    this.connections.delete(conn);
    const slot = conn.remoteId === undefined ? undefined : this.slots.get(conn.remoteId);
    if (slot !== undefined) {
      if (slot.dialing === conn) {
        slot.dialing = undefined;
        if (slot.dialTimer !== undefined) clearTimeout(slot.dialTimer);
        slot.dialTimer = undefined;
      }
      if (slot.active === conn) {
        slot.active = undefined;
        this.counters.connectionsLost++;
        this.logger.warn({ peer: slot.id }, 'peer connection lost');
      }
      if (slot.active === undefined) {
        this.scheduleReconnect(slot);
        // Requests waiting for a connection to a peer we will not redial can never be sent.
        if (slot.address === undefined || this.closing) this.rejectWaiters(slot, 'ERR_UNAVAILABLE', `peer ${slot.id} is not connected`);
        // Peers that only ever dialed us leave nothing behind (the map stays bounded by live peers).
        if (slot.address === undefined && slot.dialing === undefined && slot.waiters.length === 0) this.slots.delete(slot.id);
      }
    }
    if (this.connections.size === 0 && this.onAllClosed !== undefined) {
      const done = this.onAllClosed;
      this.onAllClosed = undefined;
      done();
    }
  }

  private checkLiveness(): void {
    const now = this.now();
    for (const c of this.connections) {
      if (c.state !== 'open' && c.state !== 'draining') continue;
      if (now - c.lastReceivedMs > this.cfg.idleTimeoutMs) {
        this.logger.warn({ peer: c.remoteId, idleMs: now - c.lastReceivedMs }, 'peer connection idle too long; closing');
        c.destroy();
      } else if (c.state === 'open' && now - c.lastSentMs >= this.cfg.pingIntervalMs) {
        c.writeFrame(FrameKind.ping, 0, undefined);
      }
    }
  }
}

class HandshakeViolation extends PeerProtocolError {
  constructor(kind: number) {
    super('handshake', `unexpected frame kind ${kind} during the handshake`);
  }
}
