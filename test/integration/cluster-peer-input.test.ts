/**
 * Real process: bad input on a cluster node's peer port is rejected without harming the node.
 * A raw TCP client sends garbage bytes, an oversize frame (before and after a valid handshake),
 * a frame of another protocol major, and well-framed messages and requests of the wrong shape;
 * the node closes the offending connections (or drops and counts the messages), answers a bad
 * request with an error, and keeps serving RESP clients and honest peers throughout.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { FrameDecoder, FrameKind, PEER_PROTOCOL_MAJOR, encodeFrame, type Frame } from '../../src/protocol/peer/frame.js';
import { packPayload, unpackPayload } from '../../src/protocol/peer/payload.js';
import { killAll } from './cli-process.js';
import { LocalCluster, eventually } from './cluster-harness.js';

/** A raw connection to the peer port that records frames and whether the node closed it. */
class RawPeer {
  readonly frames: Frame[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024);
  private readonly socket: net.Socket;
  readonly ready: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.on('error', () => undefined);
    this.socket.on('data', (d: Buffer) => {
      try {
        this.decoder.push(d);
        for (let f = this.decoder.next(); f !== undefined; f = this.decoder.next()) this.frames.push(f);
      } catch {
        /* the node's farewell may be cut short */
      }
    });
    this.socket.on('close', () => { this.closed = true; });
    this.ready = new Promise((r) => this.socket.once('connect', () => r()));
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  /** Completes a handshake as node `id`; resolves with the node's helloAck payload. */
  async handshake(id: string): Promise<Record<string, unknown>> {
    await this.ready;
    this.write(encodeFrame(FrameKind.hello, 0, packPayload({ nodeId: id, clusterName: 'ringkv', major: PEER_PROTOCOL_MAJOR, minor: 0 })));
    const ack = await eventually('helloAck', async () => this.frames.find((f) => f.kind === FrameKind.helloAck), 5000, 10);
    return unpackPayload(ack.payload) as Record<string, unknown>;
  }

  message(msg: unknown): void {
    this.write(encodeFrame(FrameKind.message, 0, packPayload(msg)));
  }

  async request(requestId: number, msg: unknown): Promise<Frame> {
    this.write(encodeFrame(FrameKind.request, requestId, packPayload(msg)));
    return eventually(`answer to request ${requestId}`, async () => this.frames.find((f) => f.requestId === requestId
      && (f.kind === FrameKind.response || f.kind === FrameKind.errorResponse)), 5000, 10);
  }

  async waitClosed(): Promise<void> {
    await eventually('the node to close the connection', async () => (this.closed ? true : undefined), 5000, 10);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

describe('cluster peer port input', { timeout: 60_000 }, () => {
  let c: LocalCluster;
  let redis: Redis;

  before(async () => {
    c = await LocalCluster.start({ nodes: 1 });
    redis = new Redis({ host: '127.0.0.1', port: c.node(1).respPort, lazyConnect: true, maxRetriesPerRequest: 0 });
    await redis.connect();
  });

  after(async () => {
    redis?.disconnect();
    await c?.dispose();
    killAll();
  });

  async function stillServing(tag: string): Promise<void> {
    assert.equal(await redis.set(`alive:${tag}`, tag), 'OK');
    assert.equal(await redis.get(`alive:${tag}`), tag);
  }

  it('peer input: garbage bytes close only that connection', async () => {
    const before = await c.stats(1);
    const p = new RawPeer(c.node(1).peerPort);
    await p.ready;
    p.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n\u0000\u0001garbage'));
    await p.waitClosed();
    const after = await c.stats(1);
    assert.ok((after.peer_protocolErrors ?? 0) > (before.peer_protocolErrors ?? 0), 'counted as a protocol error');
    await stillServing('garbage');
  });

  it('peer input: an oversize frame is refused before and after the handshake', async () => {
    const pre = new RawPeer(c.node(1).peerPort);
    await pre.ready;
    const header = Buffer.alloc(14);
    header.writeUInt32BE(1 << 30, 0); // claims a 1 GiB body
    header[8] = PEER_PROTOCOL_MAJOR;
    pre.write(header);
    await pre.waitClosed();

    const post = new RawPeer(c.node(1).peerPort);
    await post.handshake('oversize-peer');
    const big = Buffer.alloc(14);
    big.writeUInt32BE(64 * 1024 * 1024, 0); // above the 16 MiB frame limit
    big[8] = PEER_PROTOCOL_MAJOR;
    big[9] = FrameKind.message;
    post.write(big);
    await post.waitClosed();
    await stillServing('oversize');
  });

  it('peer input: a frame of another protocol major is answered with a version reject and closed', async () => {
    const p = new RawPeer(c.node(1).peerPort);
    await p.ready;
    p.write(encodeFrame(FrameKind.hello, 0, packPayload({ nodeId: 'future', clusterName: 'ringkv', major: 9, minor: 0 }), 9));
    await p.waitClosed();
    const reject = p.frames.find((f) => f.kind === FrameKind.reject);
    assert.ok(reject !== undefined, 'a reject frame came back');
    assert.equal((unpackPayload(reject.payload) as { reason: string }).reason, 'version');
    await stillServing('version');
  });

  it('peer input: well-framed messages of the wrong shape are dropped and counted; a bad request gets an error', async () => {
    const before = await c.stats(1);
    const p = new RawPeer(c.node(1).peerPort);
    const ack = await p.handshake('shape-peer');
    assert.equal(ack.nodeId, 'node-1');
    const bad: unknown[] = [
      { kind: 'replicate', opId: 5, key: 7, record: 'not bytes' },
      { kind: 'read', opId: 'x', key: 'k'.repeat(70_000) }, // key above maxKeyBytes
      { kind: 'membership', message: { kind: 'ping', seq: -1, target: 'node-1', incarnation: 1, ringEpoch: 0, updates: [] } },
      { kind: 'forward_reply', opId: 'a/1/1', result: { kind: 'error', code: 'ERR_NOT_A_CODE', message: 'x' } },
      { kind: 'host_addresses', ringEpoch: 1, addresses: [{ id: 'bad id with spaces', host: 'h', respPort: 1, peerPort: 2, httpPort: 3 }] },
      { kind: 'no_such_kind' },
      [1, 2, 3],
      'just a string',
    ];
    for (const m of bad) p.message(m);
    const answer = await p.request(7, { kind: 'local_keys', after: null, limit: -5 });
    assert.equal(answer.kind, FrameKind.errorResponse);
    assert.equal((unpackPayload(answer.payload) as { code: string }).code, 'ERR_PROTOCOL');
    const after = await eventually('the drops to be counted', async () => {
      const s = await c.stats(1);
      return (s.peerMessagesInvalid ?? 0) - (before.peerMessagesInvalid ?? 0) >= bad.length ? s : undefined;
    }, 5000);
    assert.equal((after.peerRequestsInvalid ?? 0) - (before.peerRequestsInvalid ?? 0), 1);
    assert.equal(after.peerMessagesFailed ?? 0, 0, 'nothing malformed reached the core');
    // The connection stays usable: a well-formed request on it is answered.
    const good = await p.request(8, { kind: 'local_count' });
    assert.equal(good.kind, FrameKind.response);
    assert.equal((unpackPayload(good.payload) as { kind: string }).kind, 'local_count');
    assert.equal(p.closed, false);
    p.destroy();
    await stillServing('shape');
  });
});
