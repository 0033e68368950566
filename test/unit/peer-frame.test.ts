/**
 * Peer frame codec (sans-IO): frames round-trip whole, byte by byte and in random splits;
 * every corruption is rejected with a PeerProtocolError carrying a stable reason and code
 * ERR_PROTOCOL; the decoder never buffers an oversize frame; payload decoders validate shapes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameKind,
  PEER_PROTOCOL_MAJOR,
  PeerProtocolError,
  crc32c,
  decodeErrorReply,
  decodeHello,
  decodeReject,
  encodeFrame,
  packPayload,
  unpackPayload,
  type Frame,
  type PeerProtocolErrorReason,
} from '../../src/protocol/peer/index.js';

const MAX = 1024 * 1024;
const KINDS = Object.values(FrameKind);

interface Decoded {
  frames: { kind: number; requestId: number; payload: string }[];
  error?: PeerProtocolError;
}

function decodeChunks(chunks: readonly Buffer[], max = MAX): Decoded {
  const d = new FrameDecoder(max);
  const frames: Decoded['frames'] = [];
  try {
    for (const c of chunks) {
      d.push(c);
      for (let f: Frame | undefined = d.next(); f !== undefined; f = d.next()) {
        frames.push({ kind: f.kind, requestId: f.requestId, payload: f.payload.toString('hex') });
      }
    }
  } catch (e) {
    assert.ok(e instanceof PeerProtocolError, `expected PeerProtocolError, got ${String(e)}`);
    return { frames, error: e };
  }
  return { frames };
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

function bytewise(buf: Buffer): Buffer[] {
  return Array.from(buf, (b) => Buffer.from([b]));
}

function expectReason(d: Decoded, reason: PeerProtocolErrorReason): void {
  assert.ok(d.error !== undefined, `expected a ${reason} error, got frames ${JSON.stringify(d.frames)}`);
  assert.equal(d.error.reason, reason);
  assert.equal(d.error.code, 'ERR_PROTOCOL');
}

const frameArb = fc.record({
  kind: fc.constantFrom(...KINDS),
  requestId: fc.nat({ max: 0xffffffff }),
  payload: fc.uint8Array({ maxLength: 300 }),
});

describe('peer frame codec', () => {
  it('crc32c matches the standard check value', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
    // Slice-by-8 and the byte loop agree on every length and offset.
    const data = Buffer.from(Array.from({ length: 40 }, (_, i) => (i * 37 + 11) & 0xff));
    for (let start = 0; start < 9; start++) {
      for (let end = start; end <= data.length; end++) {
        assert.equal(crc32c(data, start, end), crc32c(Buffer.from(data.subarray(start, end))));
      }
    }
  });

  it('a frame has the documented layout', () => {
    const f = encodeFrame(FrameKind.request, 0x01020304, Buffer.from([0xaa, 0xbb]));
    assert.equal(f.length, FRAME_HEADER_BYTES + 2);
    assert.equal(f.readUInt32BE(0), 12);
    assert.equal(f.readUInt32BE(4), crc32c(f, 8, f.length));
    assert.equal(f[8], PEER_PROTOCOL_MAJOR);
    assert.equal(f[9], FrameKind.request);
    assert.equal(f.readUInt32BE(10), 0x01020304);
    assert.deepEqual([...f.subarray(14)], [0xaa, 0xbb]);
  });

  it('frames decode the same whole, byte by byte and in random splits', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (specs, cuts) => {
        const wire = Buffer.concat(specs.map((s) => encodeFrame(s.kind, s.requestId, s.payload)));
        const expected = specs.map((s) => ({ kind: s.kind, requestId: s.requestId, payload: Buffer.from(s.payload).toString('hex') }));
        assert.deepEqual(decodeChunks([wire]), { frames: expected });
        assert.deepEqual(decodeChunks(splitAt(wire, cuts)), { frames: expected });
      }),
      { numRuns: 300 },
    );
    const wire = Buffer.concat([encodeFrame(FrameKind.ping, 0, undefined), encodeFrame(FrameKind.message, 0, packPayload({ a: 1 }))]);
    assert.equal(decodeChunks(bytewise(wire)).frames.length, 2);
  });

  it('an oversize frame is rejected from its length prefix alone, before its body arrives', () => {
    const d = new FrameDecoder(1000);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(2000, 0);
    d.push(head);
    assert.throws(() => d.next(), (e: unknown) => e instanceof PeerProtocolError && e.reason === 'oversize');
    // Poisoned: later input is refused with the same error, nothing is buffered.
    assert.equal(d.bufferedBytes, 0);
    assert.throws(() => d.push(Buffer.alloc(10)), (e: unknown) => e instanceof PeerProtocolError && e.reason === 'oversize');
    assert.equal(d.bufferedBytes, 0);
    // Exactly at the limit is accepted.
    const ok = encodeFrame(FrameKind.message, 0, Buffer.alloc(1000 - FRAME_HEADER_BYTES));
    assert.equal(decodeChunks([ok], 1000).frames.length, 1);
    expectReason(decodeChunks([encodeFrame(FrameKind.message, 0, Buffer.alloc(1001 - FRAME_HEADER_BYTES))], 1000), 'oversize');
  });

  it('a large frame arriving in many chunks is joined once, not re-copied per chunk', () => {
    const payload = Buffer.alloc(8 * 1024 * 1024, 0x5a);
    const wire = encodeFrame(FrameKind.message, 0, payload);
    const d = new FrameDecoder(16 * 1024 * 1024);
    const t0 = process.hrtime.bigint();
    let frame: Frame | undefined;
    for (let off = 0; off < wire.length; off += 4096) {
      d.push(wire.subarray(off, off + 4096));
      frame = d.next();
      if (off + 4096 < wire.length) assert.equal(frame, undefined);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(frame !== undefined && frame.payload.equals(payload));
    assert.equal(d.bufferedBytes, 0);
    // Re-copying the buffer on each of the 2048 chunks would move ~8 GB; one join moves 8 MB.
    assert.ok(ms < 1000, `decoding took ${ms.toFixed(0)} ms`);
  });

  it('a length shorter than the header is malformed', () => {
    const b = Buffer.alloc(14);
    b.writeUInt32BE(3, 0);
    expectReason(decodeChunks([b]), 'malformed');
  });

  it('a different protocol major is reported as a version mismatch with the version seen', () => {
    const f = encodeFrame(FrameKind.hello, 0, packPayload({}), PEER_PROTOCOL_MAJOR + 1);
    for (const chunks of [[f], bytewise(f)]) {
      const d = decodeChunks(chunks);
      expectReason(d, 'version');
      assert.equal(d.error?.peerVersion, PEER_PROTOCOL_MAJOR + 1);
    }
  });

  it('any single flipped bit after the length prefix is detected', () => {
    const f = encodeFrame(FrameKind.request, 7, packPayload({ kind: 'read', key: 'k' }));
    for (let byte = 4; byte < f.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const g = Buffer.from(f);
        g[byte] = (g[byte] as number) ^ (1 << bit);
        const d = decodeChunks([g]);
        assert.ok(d.error !== undefined, `flip of byte ${byte} bit ${bit} went unnoticed`);
        assert.ok(['checksum', 'version'].includes(d.error.reason), d.error.reason);
      }
    }
  });

  it('an unknown kind with a valid checksum is rejected as kind', () => {
    const f = encodeFrame(FrameKind.message, 0, undefined);
    f[9] = 200;
    f.writeUInt32BE(crc32c(f, 8, f.length), 4);
    expectReason(decodeChunks([f]), 'kind');
  });

  it('random garbage only ever yields PeerProtocolError, never another exception or a frame', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 14, maxLength: 400 }), fc.array(fc.nat(), { maxLength: 5 }), (bytes, cuts) => {
        // decodeChunks itself fails the test on any exception other than PeerProtocolError.
        const d = decodeChunks(splitAt(Buffer.from(bytes), cuts), 4096);
        // A frame from random bytes needs a matching 32-bit checksum: practically never.
        assert.equal(d.frames.length, 0);
      }),
      { numRuns: 500 },
    );
    // Text protocols hitting the port: huge length prefix -> oversize.
    expectReason(decodeChunks([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]), 'oversize');
    expectReason(decodeChunks([Buffer.from('*1\r\n$4\r\nPING\r\n')]), 'oversize');
  });

  it('payload decoders accept well-formed shapes and reject others as payload errors', () => {
    const hello = { nodeId: 'n1', clusterName: 'c', major: 1, minor: 3 };
    assert.deepEqual(decodeHello(packPayload(hello)), hello);
    assert.deepEqual(decodeReject(packPayload({ reason: 'duplicate', message: 'm' })), { reason: 'duplicate', message: 'm' });
    assert.deepEqual(decodeErrorReply(packPayload({ code: 'ERR_TIMEOUT', message: 'x' })), { code: 'ERR_TIMEOUT', message: 'x' });
    assert.deepEqual(decodeErrorReply(packPayload({ code: 'ERR_FROM_THE_FUTURE', message: 'x' })), { code: 'ERR_INTERNAL', message: 'x' });
    const bad: Array<() => unknown> = [
      () => decodeHello(packPayload({ nodeId: '', clusterName: 'c', major: 1, minor: 0 })),
      () => decodeHello(packPayload({ nodeId: 'n', clusterName: 'c', major: -1, minor: 0 })),
      () => decodeHello(packPayload([1, 2])),
      () => decodeReject(packPayload({ reason: 'whatever', message: 'm' })),
      () => decodeErrorReply(packPayload({ code: 5, message: 'm' })),
      () => unpackPayload(Buffer.alloc(0)),
      () => unpackPayload(Buffer.from([0x92, 0x01])), // array of 2, one element
    ];
    for (const f of bad) assert.throws(f, (e: unknown) => e instanceof PeerProtocolError && e.reason === 'payload' && e.code === 'ERR_PROTOCOL');
  });

  it('messages with Buffers round-trip through the payload codec unchanged', () => {
    const msg = { kind: 'replicate', opId: 'n1/1/7', key: 'k', record: Buffer.from([1, 2, 3]) };
    const back = unpackPayload(packPayload(msg)) as { record: unknown };
    // The core's messages type binary fields as Buffer: they must come back as Buffers.
    assert.ok(Buffer.isBuffer(back.record));
    assert.deepEqual(back, msg);
  });
});
