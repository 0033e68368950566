/**
 * Peer transport on loopback: messages and requests between two and three nodes, one connection
 * per pair even when both dial at once, reconnect with growing backoff after a loss, the
 * in-flight window and its queue, timeouts, graceful close, and bad input on the peer port
 * (garbage, oversize frames, wrong version, wrong cluster) rejected while the good peer is served.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { RingkvError } from '../../src/errors/index.js';
import { FrameDecoder, FrameKind, PEER_PROTOCOL_MAJOR, decodeReject, encodeFrame, packPayload } from '../../src/protocol/peer/index.js';
import { closeAll, mesh, peerConfig, sleep, startNode, waitFor, type Node } from './peer-harness.js';

const connected = (a: Node, b: Node): boolean => a.t.stats().peers[b.id]?.connected === true && b.t.stats().peers[a.id]?.connected === true;

function isCode(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof RingkvError && e.code === code;
}

/** Both ends of the pair's connection are the same socket, dialed by the lower id. */
function assertOneConnection(a: Node, b: Node): void {
  const [lo, hi] = a.id < b.id ? [a, b] : [b, a];
  const loView = lo.t.stats().peers[hi.id];
  const hiView = hi.t.stats().peers[lo.id];
  assert.ok(loView?.connected && hiView?.connected, `${lo.id}<->${hi.id} not connected`);
  assert.equal(loView.direction, 'outbound', `${lo.id} should keep its own dial to ${hi.id}`);
  assert.equal(hiView.direction, 'inbound');
  assert.equal(loView.localPort, hiView.remotePort);
  assert.equal(loView.remotePort, hiView.localPort);
}

/** Raw socket to a node's peer port that collects everything it receives until closed. */
function rawClient(port: number): Promise<{ sock: net.Socket; received: () => Buffer; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host: '127.0.0.1', port }, () => resolve({ sock, received: () => Buffer.concat(chunks), closed }));
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => {});
    sock.once('error', reject);
  });
}

const ECHO_NODE = fileURLToPath(new URL('./peer-echo-node.ts', import.meta.url));

/** Starts the echo peer in its own process; resolves with its port once it listens. */
async function spawnEcho(id: string, port = 0): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ECHO_NODE, id, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const bound = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl !== -1) resolve((JSON.parse(out.slice(0, nl)) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`echo node exited with ${code}`)));
    setTimeout(() => reject(new Error('echo node did not start')), 20_000).unref();
  });
  return { child, port: bound };
}

/** Ends the echo process: stdin closed for a clean exit, SIGKILL by pid if it lingers. */
async function stopEcho(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

describe('peer transport', () => {
  it('two nodes exchange one-way messages and requests in both directions', async () => {
    const a = await startNode('a');
    const b = await startNode('b', {
      onRequest: async (from, msg) => {
        const m = msg as { op: string };
        if (m.op === 'fail') throw new RingkvError('ERR_WRONG_TYPE', 'nope');
        if (m.op === 'crash') throw new Error('secret internals');
        return { got: msg, from, buf: Buffer.from([1, 2, 3]) };
      },
    });
    try {
      // Before any address is known, sends are dropped and requests refused as not sent.
      assert.equal(a.t.send('b', { x: 1 }), false);
      await assert.rejects(a.t.request('b', { op: 'x' }), isCode('ERR_UNAVAILABLE'));
      mesh([a, b]);
      // A request issued while the connection is still being set up waits for it.
      const r = (await a.t.request('b', { op: 'hi', n: 1 })) as { got: unknown; from: string; buf: Uint8Array };
      assert.deepEqual(r.got, { op: 'hi', n: 1 });
      assert.equal(r.from, 'a');
      assert.deepEqual([...r.buf], [1, 2, 3]);
      assert.deepEqual(await b.t.request('a', 'ping'), { echo: 'ping', by: 'a', from: 'b' });
      assert.equal(a.t.send('b', { kind: 'repair', key: 'k' }), true);
      assert.equal(b.t.send('a', { kind: 'gossip' }), true);
      await waitFor('messages delivered', () => b.messages.length === 1 && a.messages.length === 1);
      assert.deepEqual(b.messages[0], { from: 'a', msg: { kind: 'repair', key: 'k' } });
      assert.deepEqual(a.messages[0], { from: 'b', msg: { kind: 'gossip' } });
      // Handler errors travel with their code; unexpected ones become ERR_INTERNAL without detail.
      await assert.rejects(a.t.request('b', { op: 'fail' }), (e: unknown) => isCode('ERR_WRONG_TYPE')(e) && (e as Error).message === 'nope');
      await assert.rejects(a.t.request('b', { op: 'crash' }), (e: unknown) => isCode('ERR_INTERNAL')(e) && !(e as Error).message.includes('secret'));
      assertOneConnection(a, b);
    } finally {
      await closeAll([a, b]);
    }
  });

  it('three nodes form a mesh with exactly one connection per pair and route by id', async () => {
    const nodes = await Promise.all(['n1', 'n2', 'n3'].map((id) => startNode(id)));
    try {
      mesh(nodes);
      await waitFor('mesh', () => nodes.every((n) => n.t.connectedPeers().length === 2));
      await sleep(50); // let any losing dial finish closing
      for (const n of nodes) assert.equal(n.t.stats().connections, 2, `${n.id} holds extra connections`);
      for (const [x, y] of [[0, 1], [0, 2], [1, 2]] as const) assertOneConnection(nodes[x] as Node, nodes[y] as Node);
      for (const from of nodes) {
        for (const to of nodes) {
          if (from === to) continue;
          assert.deepEqual(await from.t.request(to.id, { hop: `${from.id}->${to.id}` }), { echo: { hop: `${from.id}->${to.id}` }, by: to.id, from: from.id });
        }
      }
    } finally {
      await closeAll(nodes);
    }
  });

  it('simultaneous dials by both nodes settle on the lower id\'s connection, every time', async () => {
    let duplicatesResolved = 0;
    for (let round = 0; round < 10; round++) {
      const a = await startNode(`p${round}-a`);
      const b = await startNode(`p${round}-b`);
      try {
        mesh([b, a]); // both dial in the same tick
        await waitFor('connected', () => connected(a, b));
        await sleep(30);
        assertOneConnection(a, b);
        assert.equal(a.t.stats().connections, 1);
        assert.equal(b.t.stats().connections, 1);
        assert.deepEqual(await b.t.request(a.id, round), { echo: round, by: a.id, from: b.id });
        duplicatesResolved += a.t.stats().duplicatesResolved + b.t.stats().duplicatesResolved;
      } finally {
        await closeAll([a, b]);
      }
    }
    // The race really happened: two connections existed and one was refused or dropped.
    assert.ok(duplicatesResolved >= 10, `only ${duplicatesResolved} duplicate connections resolved in 10 rounds`);
  });

  it('a killed connection is redialed; a dead peer is redialed with growing, capped backoff and found again when it returns', async () => {
    const a = await startNode('a', { random: () => 0.5 });
    let b = await startNode('b');
    const bPort = b.port;
    try {
      mesh([a, b]);
      await waitFor('connected', () => connected(a, b));
      // Network failure on the live connection: both sides notice and the pair reconnects.
      assert.equal(a.t.dropConnection('b'), true);
      await waitFor('reconnected', () => connected(a, b) && a.t.stats().handshakesCompleted >= 2);
      assert.ok(a.t.stats().connectionsLost >= 1);
      assert.deepEqual(await a.t.request('b', 1), { echo: 1, by: 'b', from: 'a' });

      // The peer dies: the node keeps redialing with base 20 ms doubling to the 200 ms cap.
      b.t.destroy();
      await sleep(1000);
      const delays = a.logs.filter((l) => l.msg === 'peer redial scheduled' && l.peer === 'b').map((l) => l.delayMs as number);
      assert.ok(delays.length >= 4 && delays.length <= 14, `redials in 1 s: ${delays.length} (${delays.join(',')})`);
      for (let i = 1; i < delays.length; i++) assert.ok((delays[i] as number) >= (delays[i - 1] as number), `backoff shrank: ${delays.join(',')}`);
      assert.ok(delays.every((d) => d <= 200), `backoff above its cap: ${delays.join(',')}`);
      assert.ok((delays.at(-1) as number) >= 100, `backoff did not grow: ${delays.join(',')}`);
      // While it is down, requests that cannot be sent fail as "did not happen".
      await assert.rejects(a.t.request('b', 2, 100), isCode('ERR_UNAVAILABLE'));

      // It comes back on the same port: found again within the backoff cap, requests flow.
      b = await startNode('b', { port: bPort });
      mesh([a, b]);
      await waitFor('reconnected after restart', () => connected(a, b), 2000);
      assert.deepEqual(await a.t.request('b', 3), { echo: 3, by: 'b', from: 'a' });
    } finally {
      await closeAll([a, b]);
    }
  });

  it('a peer process killed with SIGKILL is noticed at once, and redialed when it restarts on its port', async () => {
    const a = await startNode('a');
    let echo = await spawnEcho('echo');
    try {
      a.t.setPeers({ echo: { host: '127.0.0.1', port: echo.port } });
      await waitFor('connected', () => a.t.stats().peers.echo?.connected === true);
      assert.deepEqual(await a.t.request('echo', 'before'), 'before');
      const exited = new Promise((r) => echo.child.once('exit', r));
      process.kill(echo.child.pid as number, 'SIGKILL');
      await exited;
      await waitFor('loss noticed', () => a.t.stats().peers.echo?.connected === false, 1000);
      assert.equal(a.t.stats().connectionsLost, 1);
      await assert.rejects(a.t.request('echo', 'while down', 50), isCode('ERR_UNAVAILABLE'));
      echo = await spawnEcho('echo', echo.port);
      // No new address given: the backoff redial finds it (cap 200 ms in these tests).
      await waitFor('redialed', () => a.t.stats().peers.echo?.connected === true, 3000);
      assert.deepEqual(await a.t.request('echo', 'after'), 'after');
    } finally {
      await stopEcho(echo.child);
      await a.t.close(500);
    }
  });

  it('the in-flight window holds requests back, queues up to its bound, then refuses with ERR_OVERLOADED', async () => {
    let running = 0;
    let runningMax = 0;
    const release: (() => void)[] = [];
    const a = await startNode('a', { config: peerConfig({ inFlightMax: 4, queuedRequestsMax: 10 }) });
    const b = await startNode('b', {
      onRequest: async (_from, msg) => {
        running++;
        runningMax = Math.max(runningMax, running);
        await new Promise<void>((r) => release.push(r));
        running--;
        return msg;
      },
    });
    try {
      mesh([a, b]);
      await waitFor('connected', () => connected(a, b));
      const accepted = Array.from({ length: 14 }, (_, i) => a.t.request('b', i));
      await assert.rejects(a.t.request('b', 'one too many'), isCode('ERR_OVERLOADED'));
      await waitFor('window full', () => running === 4);
      await sleep(30);
      assert.equal(running, 4, 'more requests reached the peer than the window allows');
      assert.equal(a.t.stats().peers.b?.inFlight, 4);
      assert.equal(a.t.stats().peers.b?.queued, 10);
      // Drain: each answer lets one queued request out, in order.
      while (release.length > 0 || running > 0) {
        release.shift()?.();
        await sleep(1);
      }
      assert.deepEqual(await Promise.all(accepted), Array.from({ length: 14 }, (_, i) => i));
      assert.equal(runningMax, 4);
      assert.equal(a.t.stats().requestsOverloaded, 1);
    } finally {
      for (const r of release) r();
      await closeAll([a, b]);
    }
  });

  it('a request without an answer times out with ERR_TIMEOUT, frees its slot, and a late answer is ignored', async () => {
    let delayMs = 300;
    const a = await startNode('a', { config: peerConfig({ inFlightMax: 1 }) });
    const b = await startNode('b', { onRequest: async (_f, msg) => { await sleep(delayMs); return msg; } });
    try {
      mesh([a, b]);
      await waitFor('connected', () => connected(a, b));
      const t0 = Date.now();
      await assert.rejects(a.t.request('b', 'slow', 80), isCode('ERR_TIMEOUT'));
      const took = Date.now() - t0;
      assert.ok(took >= 75 && took < 250, `timeout fired after ${took} ms`);
      assert.equal(a.t.stats().peers.b?.inFlight, 0);
      // The window (1) is free again; the late answer to 'slow' must not resolve this request.
      delayMs = 0;
      assert.equal(await a.t.request('b', 'fast'), 'fast');
      await sleep(300); // the late answer arrives and is dropped
      assert.equal(await a.t.request('b', 'again'), 'again');
    } finally {
      await closeAll([a, b]);
    }
  });

  it('garbage, oversize frames, wrong versions and wrong clusters on the peer port are refused while the good peer keeps being served', async () => {
    const a = await startNode('a');
    const b = await startNode('b', { config: peerConfig({ frameBytesMax: 64 * 1024 }) });
    try {
      mesh([a, b]);
      await waitFor('connected', () => connected(a, b));
      let stop = false;
      let served = 0;
      const load = (async () => {
        while (!stop) {
          await a.t.request('b', served);
          served++;
        }
      })();

      const garbage = await rawClient(b.port);
      garbage.sock.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      await garbage.closed;

      const random = await rawClient(b.port);
      random.sock.write(Buffer.from([0, 0, 0, 40, 1, 2, 3, 4, PEER_PROTOCOL_MAJOR, 5, ...new Array<number>(40).fill(9)]));
      await random.closed;

      const oversize = await rawClient(b.port);
      const head = Buffer.alloc(4);
      head.writeUInt32BE(100 * 1024 * 1024, 0);
      oversize.sock.write(head);
      await oversize.closed;

      // A request before the handshake is a protocol violation.
      const early = await rawClient(b.port);
      early.sock.write(encodeFrame(FrameKind.request, 1, packPayload('x')));
      await early.closed;

      // A node of another major: refused with a reject frame and a clear log line.
      const future = await rawClient(b.port);
      future.sock.write(encodeFrame(FrameKind.hello, 0, packPayload({ nodeId: 'z', clusterName: 'ringkv', major: 2, minor: 0 }), PEER_PROTOCOL_MAJOR + 1));
      await future.closed;
      const d = new FrameDecoder(4096);
      d.push(future.received());
      const rej = d.next();
      assert.equal(rej?.kind, FrameKind.reject);
      assert.equal(decodeReject(rej.payload).reason, 'version');
      const versionLine = b.logs.find((l) => l.msg.includes('protocol major 2'));
      assert.ok(versionLine !== undefined, 'no log line names the unsupported major');
      assert.equal(versionLine.level, 50); // error

      // Same major, another cluster: refused.
      const stranger = await rawClient(b.port);
      stranger.sock.write(encodeFrame(FrameKind.hello, 0, packPayload({ nodeId: 'z', clusterName: 'other', major: PEER_PROTOCOL_MAJOR, minor: 0 })));
      await stranger.closed;
      const d2 = new FrameDecoder(4096);
      d2.push(stranger.received());
      assert.equal(decodeReject((d2.next() as { payload: Buffer }).payload).reason, 'cluster');

      const servedDuring = served;
      await sleep(50);
      stop = true;
      await load;
      assert.ok(served > servedDuring, 'the good peer stopped being served');
      assert.equal(b.t.stats().protocolErrors, 5);
      assert.ok(connected(a, b));
      assert.equal(b.t.stats().connectionsLost, 0);
      // A message over the frame limit is refused on the sender, never sent.
      assert.throws(() => b.t.send('a', Buffer.alloc(70 * 1024)), isCode('ERR_VALUE_TOO_LARGE'));
      assert.deepEqual(await a.t.request('b', 'still fine'), { echo: 'still fine', by: 'b', from: 'a' });
    } finally {
      await closeAll([a, b]);
    }
  });

  it('fifty connections of random bytes, some after a valid hello, never harm the node', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    try {
      mesh([a, b]);
      await waitFor('connected', () => connected(a, b));
      const before = b.t.stats().peers.a;
      for (let i = 0; i < 50; i++) {
        const c = await rawClient(b.port);
        if (i % 2 === 1) {
          c.sock.write(encodeFrame(FrameKind.hello, 0, packPayload({ nodeId: `fuzz${i}`, clusterName: 'ringkv', major: PEER_PROTOCOL_MAJOR, minor: 0 })));
        }
        const junk = Buffer.from(Array.from({ length: 1 + rnd(200) }, () => rnd(256)));
        // Sometimes a plausible small length prefix, so the body parser is reached too.
        if (rnd(2) === 0 && junk.length >= 4) junk.writeUInt32BE(10 + rnd(50), 0);
        c.sock.write(junk);
        c.sock.end();
        await c.closed;
        assert.deepEqual(await a.t.request('b', i), { echo: i, by: 'b', from: 'a' });
      }
      await waitFor('fuzz connections gone', () => b.t.stats().connections === 1);
      // The good peer's connection is the very same socket throughout.
      assert.deepEqual(b.t.stats().peers.a, before);
      assert.equal(a.t.stats().connectionsLost, 0);
      assert.ok(b.t.stats().protocolErrors >= 25, `only ${b.t.stats().protocolErrors} protocol errors counted`);
      // Fuzz peers that handshook leave no state behind.
      assert.deepEqual(Object.keys(b.t.stats().peers), ['a']);
    } finally {
      await closeAll([a, b]);
    }
  });

  it('a request over the frame limit fails alone, sent directly or from the queue, and the connection carries on', async () => {
    const a = await startNode('a', { config: peerConfig({ frameBytesMax: 16 * 1024, inFlightMax: 1 }) });
    const b = await startNode('b', { onRequest: async (_f, msg) => { await sleep(20); return msg; } });
    try {
      mesh([a, b]);
      await waitFor('connected', () => connected(a, b));
      await assert.rejects(a.t.request('b', Buffer.alloc(20 * 1024)), isCode('ERR_VALUE_TOO_LARGE'));
      // With the window (1) taken, the big one waits in the queue and fails when its turn comes.
      const first = a.t.request('b', 'first');
      const big = a.t.request('b', Buffer.alloc(20 * 1024));
      const last = a.t.request('b', 'last');
      await assert.rejects(big, isCode('ERR_VALUE_TOO_LARGE'));
      assert.deepEqual(await Promise.all([first, last]), ['first', 'last']);
      assert.equal(a.t.stats().connectionsLost, 0);
      assert.equal(a.t.stats().protocolErrors + b.t.stats().protocolErrors, 0);
    } finally {
      await closeAll([a, b]);
    }
  });

  it('a peer removed from the address book is disconnected, not redialed, and its queued requests fail as not sent', async () => {
    const a = await startNode('a', { config: peerConfig({ inFlightMax: 1 }) });
    const b = await startNode('b', { onRequest: async (_f, msg) => { await sleep(50); return msg; } });
    try {
      a.t.setPeers({ b: { host: '127.0.0.1', port: b.port } });
      await waitFor('connected', () => connected(a, b));
      const inFlight = a.t.request('b', 'in flight');
      const queued = a.t.request('b', 'queued');
      a.t.setPeers({});
      await assert.rejects(queued, isCode('ERR_UNAVAILABLE'));
      assert.equal(await inFlight, 'in flight'); // drained, not cut
      await waitFor('disconnected', () => a.t.stats().connections === 0 && b.t.stats().connections === 0);
      const dialed = a.t.stats().connectionsDialed;
      await sleep(300);
      assert.equal(a.t.stats().connectionsDialed, dialed, 'a removed peer was redialed');
      assert.equal(a.t.send('b', 'x'), false);
    } finally {
      await closeAll([a, b]);
    }
  });

  it('idle connections are kept alive by pings, and a peer that goes silent is disconnected after the idle timeout', async () => {
    const cfg = peerConfig({ pingIntervalMs: 40, idleTimeoutMs: 200 });
    const a = await startNode('a', { config: cfg });
    const b = await startNode('b', { config: cfg });
    try {
      mesh([a, b]);
      await waitFor('connected', () => connected(a, b));
      await sleep(500); // no traffic but pings: still one live connection
      assert.ok(connected(a, b));
      assert.equal(a.t.stats().connectionsLost + b.t.stats().connectionsLost, 0);

      // A peer that handshakes and then stops answering (a paused process, a dead host).
      const silent = await rawClient(b.port);
      silent.sock.write(encodeFrame(FrameKind.hello, 0, packPayload({ nodeId: 'z', clusterName: 'ringkv', major: PEER_PROTOCOL_MAJOR, minor: 0 })));
      await waitFor('silent peer connected', () => b.t.stats().peers.z?.connected === true);
      const t0 = Date.now();
      await silent.closed;
      const took = Date.now() - t0;
      assert.ok(took >= 150 && took < 1000, `closed after ${took} ms`);
      const d = new FrameDecoder(4096);
      d.push(silent.received());
      const kinds: number[] = [];
      for (let f = d.next(); f !== undefined; f = d.next()) kinds.push(f.kind);
      assert.equal(kinds[0], FrameKind.helloAck);
      assert.ok(kinds.includes(FrameKind.ping), 'no ping was sent to the idle peer');
      assert.ok(b.logs.some((l) => l.msg.includes('idle too long') && l.peer === 'z'));
      assert.ok(connected(a, b), 'the healthy peer was disturbed');
    } finally {
      await closeAll([a, b]);
    }
  });

  it('a dialed peer answering with another major is refused with a clear log line and redialed with backoff; a silent dialer is cut at the handshake timeout', async () => {
    const a = await startNode('a', { config: peerConfig({ connectTimeoutMs: 150 }) });
    const future = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.once('data', () => sock.write(encodeFrame(FrameKind.helloAck, 0, packPayload({ nodeId: 'f', clusterName: 'ringkv', major: 2, minor: 0 }), PEER_PROTOCOL_MAJOR + 1)));
    });
    await new Promise<void>((r) => future.listen(0, '127.0.0.1', r));
    const futurePort = (future.address() as net.AddressInfo).port;
    try {
      a.t.setPeers({ f: { host: '127.0.0.1', port: futurePort } });
      await waitFor('refused twice', () => a.logs.filter((l) => l.msg.includes('protocol major 2')).length >= 2, 2000);
      const line = a.logs.find((l) => l.msg.includes('protocol major 2'));
      assert.equal(line?.level, 50);
      assert.equal(line?.peer, 'f');
      assert.equal(a.t.stats().peers.f?.connected, false);
      assert.ok(a.logs.some((l) => l.msg === 'peer redial scheduled' && l.peer === 'f'));

      // A connection that never says hello is closed after connectTimeoutMs.
      const mute = await rawClient(a.port);
      const t0 = Date.now();
      await mute.closed;
      const took = Date.now() - t0;
      assert.ok(took >= 120 && took < 1000, `mute connection closed after ${took} ms`);
      assert.ok(a.logs.some((l) => l.msg === 'peer handshake timed out'));
    } finally {
      a.t.setPeers({});
      await a.t.close(500);
      await new Promise<void>((r) => future.close(() => r()));
    }
  });

  it('an older protocol minor is accepted and the lower minor agreed (rolling upgrade)', async () => {
    const oldNode = await startNode('old', { protocolMinor: 2 });
    const newNode = await startNode('new', { protocolMinor: 3 });
    try {
      mesh([oldNode, newNode]);
      await waitFor('connected', () => connected(oldNode, newNode));
      assert.equal(oldNode.t.stats().peers.new?.minor, 2);
      assert.equal(newNode.t.stats().peers.old?.minor, 2);
      assert.ok(newNode.logs.some((l) => l.msg.includes('different protocol minor')));
      assert.deepEqual(await newNode.t.request('old', 'x'), { echo: 'x', by: 'old', from: 'new' });
    } finally {
      await closeAll([oldNode, newNode]);
    }
  });

  it('graceful close lets requests in flight in both directions finish, then refuses new ones', async () => {
    const slow = async (_f: string, msg: unknown): Promise<unknown> => {
      await sleep(100);
      return msg;
    };
    const a = await startNode('a', { onRequest: slow });
    const b = await startNode('b', { onRequest: slow });
    try {
      mesh([a, b]);
      await waitFor('connected', () => connected(a, b));
      const toClosing = a.t.request('b', 'finish me');
      const fromClosing = b.t.request('a', 'me too');
      await sleep(20);
      const closing = b.t.close(2000);
      await assert.rejects(b.t.request('a', 'late'), isCode('ERR_SHUTTING_DOWN'));
      assert.equal(await toClosing, 'finish me');
      assert.equal(await fromClosing, 'me too');
      await closing;
      await waitFor('a sees b gone', () => a.t.stats().peers.b?.connected === false);
      await assert.rejects(a.t.request('b', 'after', 100), isCode('ERR_UNAVAILABLE'));
    } finally {
      await closeAll([a, b]);
    }
  });

  it('throughput: pipelined 100-byte requests over one connection to a peer in another process', async (t) => {
    const a = await startNode('a');
    const { child, port } = await spawnEcho('echo');
    try {
      a.t.setPeers({ echo: { host: '127.0.0.1', port } });
      await waitFor('connected', () => a.t.stats().peers.echo?.connected === true);
      const payload = { kind: 'read', opId: 'a/1/1', key: 'k', record: Buffer.alloc(100, 7) };
      const run = async (total: number, concurrency: number): Promise<number> => {
        let next = 0;
        const t0 = process.hrtime.bigint();
        await Promise.all(Array.from({ length: concurrency }, async () => {
          while (next < total) {
            next++;
            assert.equal(((await a.t.request('echo', payload)) as { key: string }).key, 'k');
          }
        }));
        return total / (Number(process.hrtime.bigint() - t0) / 1e9);
      };
      await run(10_000, 256); // warm up both processes
      const serial = await run(5_000, 1);
      const pipelined = await run(100_000, 256);
      t.diagnostic(`one connection, 100-byte payloads: ${Math.round(pipelined)} requests/s with 256 in flight, ${Math.round(serial)} requests/s one at a time`);
      assert.ok(pipelined > serial, 'pipelining did not raise throughput');
      assert.ok(pipelined > 5000, `only ${Math.round(pipelined)} requests/s`);
    } finally {
      await stopEcho(child);
      await a.t.close(500);
    }
  });
});
