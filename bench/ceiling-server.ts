/**
 * The ceiling: the least a Node.js RESP server can do under redis-benchmark's GET/SET load.
 * GET answers a constant 100-byte bulk string, SET answers +OK, and nothing is stored. ringkv's
 * throughput as a fraction of this server's is the cost of ringkv itself (parsing into values,
 * the command table, the store, the engine), with Node's sockets and event loop factored out.
 *
 * Parsing is minimal but correct: RESP arrays of bulk strings and inline commands, split across
 * reads at any byte; malformed input gets a protocol error and the connection is closed, as Redis
 * does. The parser reports argument offsets into the buffer instead of allocating per argument,
 * so the ceiling is not lowered by allocations a real server could avoid too.
 *
 * Run: node --import tsx bench/ceiling-server.ts --port 7000 [--host 127.0.0.1]
 */
import { createServer, type Server, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const CR = 13;
const LF = 10;
/** Limits, as Redis's: at most 1M arguments and 512 MB per bulk string; inline lines up to 64 KB. */
const ARGS_MAX = 1024 * 1024;
const BULK_MAX = 512 * 1024 * 1024;
const INLINE_MAX = 64 * 1024;

export class ProtocolError extends Error {}

/**
 * Called once per complete command. `starts[i]..ends[i]` is argument i inside `buf`; the arrays
 * are reused, valid only during the call.
 */
export type CommandSink = (buf: Buffer, starts: number[], ends: number[], argc: number) => void;

/** Reads a decimal integer terminated by CRLF at `pos`; returns [value, next] or undefined if incomplete. */
function readInt(buf: Buffer, pos: number): [number, number] | undefined {
  let n = 0;
  let i = pos;
  let digits = 0;
  for (; i < buf.length; i++) {
    const c = buf[i] ?? 0;
    if (c === CR) break;
    if (c < 48 || c > 57) throw new ProtocolError('invalid length');
    n = n * 10 + (c - 48);
    if (++digits > 10) throw new ProtocolError('invalid length');
  }
  if (i + 1 >= buf.length) return undefined;
  if (digits === 0 || buf[i + 1] !== LF) throw new ProtocolError('invalid length');
  return [n, i + 2];
}

export class RequestParser {
  private pending: Buffer | undefined;
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  /** Feeds bytes; calls `sink` for every complete command. Throws ProtocolError on bad input. */
  feed(chunk: Buffer, sink: CommandSink): void {
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    let pos = 0;
    for (;;) {
      if (pos >= buf.length) { this.pending = undefined; return; }
      const next = buf[pos] === 42 /* '*' */ ? this.parseArray(buf, pos, sink) : this.parseInline(buf, pos, sink);
      if (next === undefined) {
        // Incomplete: keep the unparsed tail (chunks from sockets are never reused by Node).
        this.pending = buf.subarray(pos);
        return;
      }
      pos = next;
    }
  }

  private parseArray(buf: Buffer, pos: number, sink: CommandSink): number | undefined {
    const head = readInt(buf, pos + 1);
    if (head === undefined) return undefined;
    const [argc, afterHead] = head;
    if (argc > ARGS_MAX) throw new ProtocolError('invalid multibulk length');
    let p = afterHead;
    for (let i = 0; i < argc; i++) {
      if (p >= buf.length) return undefined;
      if (buf[p] !== 36 /* '$' */) throw new ProtocolError(`expected '$', got '${String.fromCharCode(buf[p] ?? 0)}'`);
      const len = readInt(buf, p + 1);
      if (len === undefined) return undefined;
      const [n, dataStart] = len;
      if (n > BULK_MAX) throw new ProtocolError('invalid bulk length');
      if (dataStart + n + 2 > buf.length) return undefined;
      if (buf[dataStart + n] !== CR || buf[dataStart + n + 1] !== LF) throw new ProtocolError('bulk string not terminated by CRLF');
      this.starts[i] = dataStart;
      this.ends[i] = dataStart + n;
      p = dataStart + n + 2;
    }
    if (argc > 0) sink(buf, this.starts, this.ends, argc);
    return p;
  }

  private parseInline(buf: Buffer, pos: number, sink: CommandSink): number | undefined {
    const lf = buf.indexOf(LF, pos);
    if (lf < 0) {
      if (buf.length - pos > INLINE_MAX) throw new ProtocolError('too big inline request');
      return undefined;
    }
    const end = lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
    let argc = 0;
    let i = pos;
    while (i < end) {
      while (i < end && (buf[i] === 32 || buf[i] === 9)) i++;
      if (i >= end) break;
      const s = i;
      while (i < end && buf[i] !== 32 && buf[i] !== 9) i++;
      this.starts[argc] = s;
      this.ends[argc] = i;
      argc++;
    }
    if (argc > 0) sink(buf, this.starts, this.ends, argc);
    return lf + 1;
  }
}

/** Case-insensitive compare of buf[start..end) with an upper-case ASCII word. */
export function argIs(buf: Buffer, start: number, end: number, upperWord: string): boolean {
  if (end - start !== upperWord.length) return false;
  for (let i = 0; i < upperWord.length; i++) {
    if (((buf[start + i] ?? 0) & 0xdf) !== upperWord.charCodeAt(i)) return false;
  }
  return true;
}

const VALUE = Buffer.alloc(100, 'x');
const GET_REPLY = Buffer.concat([Buffer.from(`$${VALUE.length}\r\n`), VALUE, Buffer.from('\r\n')]);
const OK_REPLY = Buffer.from('+OK\r\n');
const PONG_REPLY = Buffer.from('+PONG\r\n');
const EMPTY_ARRAY = Buffer.from('*0\r\n');

function bulk(s: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`$${s.length}\r\n`), s, Buffer.from('\r\n')]);
}

/** The reply for one command; only GET and SET are on the hot path. */
export function replyFor(buf: Buffer, starts: number[], ends: number[], argc: number): Buffer {
  const s0 = starts[0] ?? 0;
  const e0 = ends[0] ?? 0;
  if (argIs(buf, s0, e0, 'GET')) return argc === 2 ? GET_REPLY : wrongArity('get');
  if (argIs(buf, s0, e0, 'SET')) return argc >= 3 ? OK_REPLY : wrongArity('set');
  if (argIs(buf, s0, e0, 'PING')) return PONG_REPLY;
  if (argIs(buf, s0, e0, 'CONFIG') && argc === 3) {
    // redis-benchmark reads `CONFIG GET save` and `CONFIG GET appendonly`: name and empty value.
    const name = buf.subarray(starts[2] ?? 0, ends[2] ?? 0);
    return Buffer.concat([Buffer.from('*2\r\n'), bulk(name), bulk(Buffer.alloc(0))]);
  }
  if (argIs(buf, s0, e0, 'COMMAND')) return EMPTY_ARRAY;
  const name = buf.toString('latin1', s0, Math.min(e0, s0 + 64));
  return Buffer.from(`-ERR unknown command '${name.replace(/[\r\n]/g, ' ')}'\r\n`);
}

function wrongArity(cmd: string): Buffer {
  return Buffer.from(`-ERR wrong number of arguments for '${cmd}' command\r\n`);
}

function serveConnection(socket: Socket): void {
  socket.setNoDelay(true);
  const parser = new RequestParser();
  const out: Buffer[] = [];
  let outBytes = 0;
  const sink: CommandSink = (buf, starts, ends, argc) => {
    const r = replyFor(buf, starts, ends, argc);
    out.push(r);
    outBytes += r.length;
  };
  socket.on('data', (chunk: Buffer) => {
    try {
      parser.feed(chunk, sink);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      out.push(Buffer.from(`-ERR Protocol error: ${err.message}\r\n`));
      socket.end(Buffer.concat(out));
      out.length = 0;
      return;
    }
    if (out.length === 0) return;
    // One write per read: replies to a pipelined batch leave in one syscall.
    socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out, outBytes));
    out.length = 0;
    outBytes = 0;
  });
  socket.on('error', () => socket.destroy());
}

export function createCeilingServer(): Server {
  return createServer(serveConnection);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '7000' }, host: { type: 'string', default: '127.0.0.1' } },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`bad --port ${values.port}`);
  const server = createCeilingServer();
  server.maxConnections = 100_000;
  await new Promise<void>((resolve) => server.listen(port, values.host, resolve));
  const addr = server.address();
  process.stdout.write(`ceiling-server listening on ${values.host}:${typeof addr === 'object' && addr ? addr.port : port}\n`);
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`ceiling-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
