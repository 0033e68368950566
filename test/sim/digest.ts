/**
 * A running FNV-1a (32-bit) digest of everything the nodes emitted, so two runs of one seed can
 * be compared in one number. Not cryptographic: it only has to notice divergence.
 */
import type { Effect, KvResult, PeerMessage } from '../../src/core/messages.js';
import type { AeMessage } from '../../src/core/antientropy/messages.js';

export class Digest {
  private h = 0x811c9dc5;
  private count = 0;

  str(s: string): void {
    let h = this.h;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    this.h = h >>> 0;
  }

  bytes(b: Uint8Array | null): void {
    if (b !== null && b.length > 4096) {
      // Large blobs (ring payloads) are hashed once per object.
      this.str(payloadFingerprint(b));
      return;
    }
    if (b === null) return this.str('~');
    let h = this.h;
    for (let i = 0; i < b.length; i++) {
      h ^= b[i] as number;
      h = Math.imul(h, 0x01000193);
    }
    this.h = h >>> 0;
  }

  effect(node: string, e: Effect): void {
    this.count++;
    this.str(`|${node}:${e.kind}:`);
    switch (e.kind) {
      case 'send':
        this.str(e.to);
        this.message(e.message);
        return;
      case 'storage':
        this.str(`${e.ioId}:${e.op.kind}:`);
        switch (e.op.kind) {
          case 'read': this.str(e.op.key); return;
          case 'write': this.str(`${e.op.key}:${e.op.sync ? 's' : 'u'}`); this.bytes(e.op.record); return;
          case 'hint_put': this.str(`${e.op.owner}:${e.op.key}`); this.bytes(e.op.entry); return;
          case 'hint_delete': this.str(`${e.op.owner}:${e.op.key}`); return;
          case 'hint_scan': return;
          case 'scan': this.str(`${e.op.afterKey ?? '~'}:${e.op.limit}`); return;
          case 'purge': this.str(e.op.key); this.bytes(e.op.record); return;
          default: { const never: never = e.op; throw new TypeError(`unknown storage op ${JSON.stringify(never)}`); }
        }
      case 'reply':
        this.str(String(e.requestId));
        this.result(e.result);
        return;
      case 'ring_changed':
        this.str(`${e.current.epoch}:${e.pending?.epoch ?? '-'}`);
        return;
      default: {
        const never: never = e;
        throw new TypeError(`unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  private message(m: PeerMessage): void {
    this.str(m.kind);
    switch (m.kind) {
      case 'forward_write':
        this.str(`${m.opId}:${m.key}:${m.expiresAtMs}:${m.writeQuorum}`);
        this.bytes(m.value);
        this.bytes(m.context);
        return;
      case 'forward_reply':
        this.str(m.opId);
        this.result(m.result);
        return;
      case 'replicate':
        this.str(`${m.opId}:${m.key}`);
        this.bytes(m.record);
        return;
      case 'replicate_ack':
      case 'read':
        this.str(`${m.opId}:${m.key}`);
        return;
      case 'read_reply':
        this.str(`${m.opId}:${m.key}`);
        this.bytes(m.record);
        return;
      case 'repair':
        this.str(m.key);
        this.bytes(m.record);
        return;
      case 'replicate_hint':
        this.str(`${m.opId}:${m.key}:${m.owner}`);
        this.bytes(m.record);
        return;
      case 'hint_deliver':
        this.str(`${m.deliveryId}:${m.key}`);
        this.bytes(m.record);
        return;
      case 'hint_ack':
        this.str(`${m.deliveryId}:${m.key}`);
        return;
      case 'ae':
        this.ae(m.message);
        return;
      case 'ae_push':
        this.str(`${m.xferId}:${m.key}`);
        this.bytes(m.record);
        return;
      case 'ae_push_ack':
      case 'ae_fetch':
        this.str(`${m.xferId}:${m.key}`);
        return;
      case 'ae_fetch_reply':
        this.str(`${m.xferId}:${m.key}`);
        this.bytes(m.record);
        return;
      case 'topology': {
        const t = m.message;
        this.str(t.kind);
        if (t.kind === 'pull_reply') {
          this.str(`${t.version}:${t.id}:${t.afterKey ?? ''}:${t.status}:${t.next ?? ''}:${t.records.length}`);
          for (const [k, r] of t.records) {
            this.str(k);
            this.bytes(Buffer.from(r.buffer, r.byteOffset, r.byteLength));
          }
        } else if (t.kind === 'push') {
          this.str(`${t.pushId}:${t.key}`);
          this.bytes(Buffer.from(t.record.buffer, t.record.byteOffset, t.record.byteLength));
        } else if (t.kind === 'announce') {
          this.bytes(Buffer.from(t.payload.buffer, t.payload.byteOffset, t.payload.byteLength));
        } else {
          this.str(JSON.stringify(t));
        }
        return;
      }
      case 'membership':
        // Plain data (no Buffers besides an optional ring payload): its JSON is its identity.
        // A ring payload (~50 KB, the same object in every sync until the ring changes) is
        // represented by a fingerprint computed once per object.
        this.str(JSON.stringify(m.message, (_k, v: unknown) => (v instanceof Uint8Array ? payloadFingerprint(v) : v)));
        return;
      default: {
        const never: never = m;
        throw new TypeError(`unknown message ${JSON.stringify(never)}`);
      }
    }
  }

  /** Field by field (JSON of a slot list or a hash block costs more than the rest of a run). */
  private ae(m: AeMessage): void {
    this.str(`${m.kind}:`);
    switch (m.kind) {
      case 'ae_open':
        this.str(`${m.sid}:${m.rootHi}:${m.rootLo}:${m.slots.length}`);
        for (const x of m.slots) this.num(x);
        return;
      case 'ae_request':
        this.str(`${m.sid}:`);
        for (const x of m.nodes) this.num(x);
        return;
      case 'ae_reply':
        this.str(`${m.sid}:`);
        this.bytes(m.body);
        return;
      case 'ae_open_implied':
        this.str(`${m.sid}:${m.fpHi}:${m.fpLo}:${m.rootHi}:${m.rootLo}`);
        return;
      case 'ae_busy':
        this.str(`${m.sid}:${m.mismatch === true ? 'm' : '-'}`);
        return;
      case 'ae_close':
        this.str(`${m.sid}:${m.completed ? 'c' : 'a'}`);
        return;
      case 'ae_data':
        this.str(`${m.xfer}:${m.missing ?? '-'}:${m.purge === true ? 'p' : '-'}:`);
        for (const k of m.keys) this.str(k);
        for (const r of m.records) this.bytes(r);
        return;
      case 'ae_data_ack':
        this.str(`${m.xfer}:${m.purge === true ? 'p' : '-'}`);
        return;
      case 'ae_want':
        this.str(`${m.xfer}:${m.sid}:`);
        for (const x of m.nodes) this.num(x);
        for (const x of m.counts) this.num(x);
        this.bytes(m.hashes);
        return;
      default: {
        const never: never = m;
        throw new TypeError(`unknown anti-entropy message ${JSON.stringify(never)}`);
      }
    }
  }

  private num(x: number): void {
    // Small non-negative integers (slots, kinds) as two bytes; anything else as text.
    if (Number.isInteger(x) && x >= 0 && x < 0x10000) {
      this.h = Math.imul((this.h ^ (x & 0xff)) >>> 0, 0x01000193) >>> 0;
      this.h = Math.imul((this.h ^ (x >>> 8)) >>> 0, 0x01000193) >>> 0;
    } else {
      this.str(`${x};`);
    }
  }

  private result(r: KvResult): void {
    this.str(r.kind);
    switch (r.kind) {
      case 'values':
        for (const v of r.values) {
          this.bytes(v.value);
          this.str(String(v.expiresAtMs));
        }
        this.bytes(r.context);
        return;
      case 'written':
        this.str(String(r.hintedAcks ?? 0));
        return;
      case 'error':
        this.str(r.code);
        return;
      default: {
        const never: never = r;
        throw new TypeError(`unknown result ${JSON.stringify(never)}`);
      }
    }
  }

  get effects(): number {
    return this.count;
  }

  hex(): string {
    return this.h.toString(16).padStart(8, '0');
  }
}

const fingerprints = new WeakMap<Uint8Array, string>();

/** FNV-1a 32 of a blob with its length, memoised per object (payloads are shared, immutable). */
function payloadFingerprint(b: Uint8Array): string {
  let f = fingerprints.get(b);
  if (f === undefined) {
    let h = 0x811c9dc5;
    for (let i = 0; i < b.length; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193);
    f = `blob:${b.length}:${(h >>> 0).toString(16)}`;
    fingerprints.set(b, f);
  }
  return f;
}
