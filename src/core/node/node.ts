/**
 * The sans-IO node: a deterministic state machine stepped with inputs (ticks, client requests,
 * peer messages, storage completions) that emits effects (sends, storage operations, replies)
 * for its host to execute. The real server's node host and the simulator run this same class.
 *
 * It composes the quorum coordinator with the two pieces of local machinery the coordinator
 * needs: storage IO bookkeeping (each storage effect has an ioId; its completion resumes the
 * continuation registered with it) and per-key turns (KeyQueue), so local read-modify-write of
 * one key is serialised although storage completes asynchronously.
 *
 * Invariants (checked by `invariants()`, which the simulator calls after every step):
 * - time never goes backwards inside the node (ticks older than the last are clamped);
 * - every outstanding ioId has exactly one continuation, and completes at most once;
 * - the coordinator's and the key queue's own bounds and consistency rules hold.
 * Volatile state (ops, turns, clock) is lost on crash by construction: a restart builds a new
 * Node with a higher incarnation over the same durable storage.
 */
import type { ConflictMode } from '../versioning/index.js';
import type { Effect, Input, IoId, PeerMessage, StorageOp, StorageResult } from '../messages.js';
import type { NodeId } from '../types.js';
import { Coordinator, type CoordinatorHost, type CoordinatorStats } from '../coordinator/coordinator.js';
import { bindVersions, type Versions } from '../coordinator/versions.js';
import { KeyQueue } from './key-queue.js';

/** Where a key lives: the ring answers it in production; tests may hand-write it. */
export interface Placement {
  readonly replicationFactor: number;
  preferenceList(key: string): readonly NodeId[];
}

export interface NodeOptions {
  readonly id: NodeId;
  /** Strictly increases across restarts of the same node (persisted by the host). */
  readonly incarnation: number;
  readonly placement: Placement;
  readonly mode: ConflictMode;
  readonly siblingsMax: number;
  readonly requestTimeoutMs: number;
  readonly inFlightMax: number;
  readonly keyQueueMax: number;
  readonly forwardDedupMax: number;
  readonly replicaSync: boolean;
  readonly repairSync: boolean;
  /** The node's clock at construction (before the first tick). */
  readonly startMs: number;
}

export const NODE_DEFAULTS = {
  mode: 'siblings',
  siblingsMax: 16,
  requestTimeoutMs: 1000,
  inFlightMax: 1024,
  keyQueueMax: 4096,
  forwardDedupMax: 4096,
  replicaSync: true,
  repairSync: false,
} as const satisfies Partial<NodeOptions>;

type StorageContinuation = (result: StorageResult) => void;

export class Node {
  readonly id: NodeId;
  private nowMs: number;
  private effects: Effect[] = [];
  private ioSeq = 0;
  private readonly io = new Map<IoId, StorageContinuation>();
  private readonly keys: KeyQueue;
  private readonly down = new Set<NodeId>();
  private readonly coordinator: Coordinator;
  readonly versions: Versions;

  constructor(private readonly opts: NodeOptions) {
    if (!Number.isSafeInteger(opts.incarnation) || opts.incarnation < 0) throw new RangeError('incarnation must be a non-negative integer');
    for (const [name, v] of [['requestTimeoutMs', opts.requestTimeoutMs], ['inFlightMax', opts.inFlightMax],
      ['keyQueueMax', opts.keyQueueMax], ['forwardDedupMax', opts.forwardDedupMax], ['siblingsMax', opts.siblingsMax]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
    }
    this.id = opts.id;
    this.nowMs = opts.startMs;
    this.keys = new KeyQueue(opts.keyQueueMax);
    this.versions = bindVersions({ self: opts.id, mode: opts.mode, siblingsMax: opts.siblingsMax });
    const host: CoordinatorHost = {
      nowMs: () => this.nowMs,
      placement: (key) => ({ replicationFactor: opts.placement.replicationFactor, preferenceList: opts.placement.preferenceList(key) }),
      isDown: (n) => this.down.has(n),
      send: (to, message) => this.send(to, message),
      reply: (requestId, result) => this.effects.push({ kind: 'reply', requestId, result }),
      storageRead: (key, done) => this.storage({ kind: 'read', key }, (r) => {
        switch (r.kind) {
          case 'read': return done({ ok: true, record: r.record });
          case 'failed': return done({ ok: false, message: r.message });
          case 'written': throw new Error('storage answered a read with a write result');
          default: { const never: never = r; throw new TypeError(`bad storage result ${JSON.stringify(never)}`); }
        }
      }),
      storageWrite: (key, record, sync, done) => this.storage({ kind: 'write', key, record, sync }, (r) => {
        switch (r.kind) {
          case 'written': return done({ ok: true });
          case 'failed': return done({ ok: false, message: r.message });
          case 'read': throw new Error('storage answered a write with a read result');
          default: { const never: never = r; throw new TypeError(`bad storage result ${JSON.stringify(never)}`); }
        }
      }),
      withKey: (key, task) => this.keys.enqueue(key, task),
    };
    this.coordinator = new Coordinator({
      self: opts.id, incarnation: opts.incarnation, requestTimeoutMs: opts.requestTimeoutMs, inFlightMax: opts.inFlightMax,
      forwardDedupMax: opts.forwardDedupMax, replicaSync: opts.replicaSync, repairSync: opts.repairSync,
    }, host, this.versions);
  }

  step(input: Input): void {
    switch (input.kind) {
      case 'tick':
        // A wall clock may step back (NTP); deadlines must not, so node time only moves forward.
        if (input.nowMs > this.nowMs) this.nowMs = input.nowMs;
        this.coordinator.tick(this.nowMs);
        return;
      case 'client_request':
        this.coordinator.clientRequest(input.requestId, input.op);
        return;
      case 'peer_message':
        if (input.from === this.id) throw new Error('a node does not message itself');
        this.coordinator.peerMessage(input.from, input.message);
        return;
      case 'storage_done': {
        const k = this.io.get(input.ioId);
        if (k === undefined) throw new Error(`storage completion for unknown or finished io ${input.ioId}`);
        this.io.delete(input.ioId);
        k(input.result);
        return;
      }
      default: {
        const never: never = input;
        throw new TypeError(`unknown input ${JSON.stringify(never)}`);
      }
    }
  }

  /** Effects emitted since the last call, in emission order; the host executes them in order. */
  takeEffects(): Effect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  /** The local failure view (strict quorums treat every replica as reachable unless marked). */
  setDown(node: NodeId, down: boolean): void {
    if (down) this.down.add(node);
    else this.down.delete(node);
  }

  get clockMs(): number {
    return this.nowMs;
  }

  get inFlight(): number {
    return this.coordinator.inFlight;
  }

  get stats(): Readonly<CoordinatorStats> & { pendingIo: number; keyWaiting: number } {
    return { ...this.coordinator.stats, pendingIo: this.io.size, keyWaiting: this.keys.waitingCount };
  }

  invariants(): void {
    this.coordinator.invariants();
    this.keys.invariants();
    if (this.io.size > this.ioSeq) throw new Error('more outstanding io than io ever issued');
    for (const id of this.io.keys()) if (id < 1 || id > this.ioSeq) throw new Error(`outstanding io ${id} was never issued`);
  }

  private send(to: NodeId, message: PeerMessage): void {
    if (to === this.id) throw new Error('a node does not message itself');
    this.effects.push({ kind: 'send', to, message });
  }

  private storage(op: StorageOp, k: StorageContinuation): void {
    this.ioSeq++;
    const ioId = this.ioSeq;
    this.io.set(ioId, k);
    this.effects.push({ kind: 'storage', ioId, op });
  }
}
