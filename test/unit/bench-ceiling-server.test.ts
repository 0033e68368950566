/**
 * The ceiling server's request parser and replies: commands fed whole, byte by byte and at
 * every split point give the same commands; inline commands work; malformed input is a
 * protocol error; GET/SET/CONFIG GET answer what redis-benchmark expects.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { createConnection, type AddressInfo } from 'node:net';
import { createCeilingServer, ProtocolError, replyFor, RequestParser } from '../../bench/ceiling-server.js';

function collect(chunks: readonly Buffer[]): string[][] {
  const parser = new RequestParser();
  const out: string[][] = [];
  for (const c of chunks) {
    parser.feed(c, (buf, starts, ends, argc) => {
      const args: string[] = [];
      for (let i = 0; i < argc; i++) args.push(buf.toString('latin1', starts[i], ends[i]));
      out.push(args);
    });
  }
  return out;
}

const PIPELINE = Buffer.from(
  '*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000042\r\n$5\r\nhello\r\n'
  + '*2\r\n$3\r\nget\r\n$16\r\nkey:000000000042\r\n'
  + 'PING\r\n'
  + '*2\r\n$3\r\nGET\r\n$0\r\n\r\n'
  + '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n',
);
const EXPECTED = [
  ['SET', 'key:000000000042', 'hello'],
  ['get', 'key:000000000042'],
  ['PING'],
  ['GET', ''],
  ['SET', 'k', 'a\r\nb'],
];

test('ceiling parser: a pipelined batch fed whole yields every command with binary-safe arguments', () => {
  assert.deepEqual(collect([PIPELINE]), EXPECTED);
});

test('ceiling parser: the same batch fed byte by byte yields the same commands', () => {
  const bytes = [...PIPELINE].map((b) => Buffer.from([b]));
  assert.deepEqual(collect(bytes), EXPECTED);
});

test('ceiling parser: every two-piece split of the batch yields the same commands', () => {
  for (let i = 1; i < PIPELINE.length; i++) {
    assert.deepEqual(collect([PIPELINE.subarray(0, i), PIPELINE.subarray(i)]), EXPECTED, `split at ${i}`);
  }
});

test('ceiling parser: inline commands split on spaces and tabs, with or without CR', () => {
  assert.deepEqual(collect([Buffer.from('SET  a\tb\r\nGET a\n\r\n')]), [['SET', 'a', 'b'], ['GET', 'a']]);
});

test('ceiling parser: malformed requests raise a protocol error', () => {
  assert.throws(() => collect([Buffer.from('*1\r\n+PING\r\n')]), ProtocolError);
  assert.throws(() => collect([Buffer.from('*x\r\n')]), ProtocolError);
  assert.throws(() => collect([Buffer.from('*1\r\n$4\r\nPINGxx')]), ProtocolError);
  assert.throws(() => collect([Buffer.from('*1\r\n$99999999999\r\n')]), ProtocolError);
  assert.throws(() => collect([Buffer.from('*1\r\n$600000000\r\n')]), ProtocolError);
});

function reply(args: string[]): string {
  const buf = Buffer.from(args.join('\0'));
  const starts: number[] = [];
  const ends: number[] = [];
  let p = 0;
  for (const a of args) { starts.push(p); ends.push(p + Buffer.byteLength(a)); p += Buffer.byteLength(a) + 1; }
  return replyFor(buf, starts, ends, args.length).toString('latin1');
}

test('ceiling replies: GET is a constant 100-byte bulk, SET is +OK, CONFIG GET names the parameter', () => {
  assert.equal(reply(['GET', 'k']), `$100\r\n${'x'.repeat(100)}\r\n`);
  assert.equal(reply(['set', 'k', 'v']), '+OK\r\n');
  assert.equal(reply(['PING']), '+PONG\r\n');
  assert.equal(reply(['CONFIG', 'GET', 'save']), '*2\r\n$4\r\nsave\r\n$0\r\n\r\n');
  assert.equal(reply(['GET']), "-ERR wrong number of arguments for 'get' command\r\n");
  assert.equal(reply(['FLUSHALL']), "-ERR unknown command 'FLUSHALL'\r\n");
});

test('ceiling server: answers a pipelined batch over TCP in order and closes on a protocol error', async () => {
  const server = createCeilingServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    const got = await new Promise<string>((resolve, reject) => {
      const s = createConnection({ host: '127.0.0.1', port });
      let data = '';
      s.on('data', (d: Buffer) => { data += d.toString('latin1'); });
      s.on('close', () => resolve(data));
      s.on('error', reject);
      s.write('*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n');
      s.write('*1\r\n+bad\r\n');
    });
    assert.equal(got, "+PONG\r\n+OK\r\n-ERR Protocol error: expected '$', got '+'\r\n");
  } finally {
    server.close();
  }
});
