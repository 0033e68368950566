/**
 * The RESP server over raw sockets: pipelining order with asynchronous handlers, isolation
 * between connections, Redis 7's exact dispatch and protocol errors (and the close that follows
 * a protocol error), inline commands, QUIT, maxclients, AUTH/NOAUTH, HELLO 3 and RESP3 replies,
 * CLIENT REPLY, CLIENT KILL, CONFIG SET effects, idle timeout, bounded pipelines and graceful close.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { RawClient, cmd, replyEnd, startServer, type TestServer } from './resp-server-harness.js';

describe('resp server: dispatch and replies', () => {
  let t: TestServer;
  const clients: RawClient[] = [];
  const connect = async (): Promise<RawClient> => {
    const c = await RawClient.connect(t.port);
    clients.push(c);
    return c;
  };

  before(async () => {
    t = await startServer();
  });
  after(async () => {
    for (const c of clients) c.close();
    await t.server.close(1000);
  });

  it('answers inline and multibulk PING', async () => {
    const c = await connect();
    c.send('PING\r\n' + cmd('PING') + cmd('PING', 'hi'));
    assert.equal(await c.expect('+PONG\r\n+PONG\r\n$2\r\nhi\r\n'), '+PONG\r\n+PONG\r\n$2\r\nhi\r\n');
  });

  it('serves the data commands from the registry (SET/GET/DEL)', async () => {
    const c = await connect();
    c.send(cmd('SET', 'k1', 'v1') + cmd('GET', 'k1') + cmd('DEL', 'k1') + cmd('GET', 'k1'));
    const want = '+OK\r\n$2\r\nv1\r\n:1\r\n$-1\r\n';
    assert.equal(await c.expect(want), want);
  });

  it('keeps replies in request order when a handler is asynchronous', async () => {
    const c = await connect();
    c.send(cmd('SLOW', '60', 'a') + cmd('PING') + cmd('SLOW', '5', 'b') + cmd('ECHO', 'c') + 'PING\r\n');
    const want = '$1\r\na\r\n+PONG\r\n$1\r\nb\r\n$1\r\nc\r\n+PONG\r\n';
    assert.equal(await c.expect(want), want);
  });

  it('lets other connections proceed while one waits on a slow command', async () => {
    const a = await connect();
    const b = await connect();
    a.send(cmd('SLOW', '400', 'late'));
    const started = Date.now();
    b.send(cmd('PING'));
    assert.equal(await b.expect('+PONG\r\n'), '+PONG\r\n');
    assert.ok(Date.now() - started < 300, 'PING waited for another connection');
    assert.equal(await a.expect('$4\r\nlate\r\n'), '$4\r\nlate\r\n');
  });

  it('words unknown commands exactly as Redis 7', async () => {
    const c = await connect();
    c.send(cmd('foo', 'a', 'b') + cmd('nope'));
    const want = "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n-ERR unknown command 'nope', with args beginning with: \r\n";
    assert.equal(await c.expect(want), want);
  });

  it('words arity errors and unknown subcommands exactly as Redis 7', async () => {
    const c = await connect();
    c.send(cmd('GET') + cmd('client', 'bogus') + cmd('CLIENT') + cmd('client', 'setname'));
    const want =
      "-ERR wrong number of arguments for 'get' command\r\n" +
      "-ERR unknown subcommand 'bogus'. Try CLIENT HELP.\r\n" +
      "-ERR wrong number of arguments for 'client' command\r\n" +
      "-ERR wrong number of arguments for 'client|setname' command\r\n";
    assert.equal(await c.expect(want), want);
  });

  it('turns a non-RingkvError into "ERR internal error" and rolls back the half-written reply', async () => {
    const c = await connect();
    c.send(cmd('BOOM') + cmd('ASYNCBOOM') + cmd('PING'));
    const want = '-ERR internal error\r\n-ERR internal error\r\n+PONG\r\n';
    const got = await c.expect(want);
    assert.equal(got, want);
    assert.ok(!got.includes('secret'));
  });

  it('replies a protocol error and closes, after answering what came before', async () => {
    const c = await connect();
    c.send(cmd('PING') + '*abc\r\n' + cmd('PING'));
    assert.equal(await c.readToClose(), '+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n');
    assert.equal(c.closed, true);
  });

  it('closes on unbalanced quotes in an inline command', async () => {
    const c = await connect();
    c.send('SET "abc\r\n');
    assert.equal(await c.readToClose(), '-ERR Protocol error: unbalanced quotes in request\r\n');
    assert.equal(c.closed, true);
  });

  it("closes on a bad bulk header with Redis's expected-'$' error", async () => {
    const c = await connect();
    c.send('*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n');
    assert.equal(await c.readToClose(), "-ERR Protocol error: expected '$', got 'f'\r\n");
  });

  it('QUIT replies +OK, closes, and runs nothing after it', async () => {
    const c = await connect();
    c.send(cmd('SET', 'quitkey', '1') + cmd('QUIT') + cmd('SET', 'quitkey', '2'));
    assert.equal(await c.readToClose(), '+OK\r\n+OK\r\n');
    assert.equal(c.closed, true);
    const d = await connect();
    d.send(cmd('GET', 'quitkey'));
    assert.equal(await d.expect('$1\r\n1\r\n'), '$1\r\n1\r\n');
  });

  it('HELLO 3 switches to RESP3: map reply, then RESP3 null/map/double types', async () => {
    const c = await connect();
    c.send(cmd('HELLO', '3'));
    const hello = await c.replies();
    assert.ok(hello.startsWith('%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:'), hello);
    assert.ok(hello.endsWith('$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n'), hello);
    c.send(cmd('GET', 'missing-key') + cmd('CONFIG', 'GET', 'maxmemory-policy'));
    const want = '_\r\n%1\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n';
    assert.equal(await c.expect(want), want);
    c.send(cmd('HELLO', '2') + cmd('GET', 'missing-key'));
    const back = await c.replies(2);
    assert.ok(back.startsWith('*14\r\n') && back.endsWith('$-1\r\n'), back);
  });

  it('HELLO rejects unsupported protocol versions with NOPROTO', async () => {
    const c = await connect();
    c.send(cmd('HELLO', '4') + cmd('HELLO', 'x'));
    const want = '-NOPROTO unsupported protocol version\r\n-ERR Protocol version is not an integer or out of range\r\n';
    assert.equal(await c.expect(want), want);
  });

  it('CLIENT REPLY OFF drops replies until ON; SKIP drops exactly the next one', async () => {
    const c = await connect();
    c.send(cmd('CLIENT', 'REPLY', 'OFF') + cmd('PING') + cmd('nosuchcmd') + cmd('CLIENT', 'REPLY', 'ON') + cmd('ECHO', 'a'));
    assert.equal(await c.expect('+OK\r\n$1\r\na\r\n'), '+OK\r\n$1\r\na\r\n');
    c.send(cmd('CLIENT', 'REPLY', 'SKIP') + cmd('ECHO', 'skipped') + cmd('ECHO', 'b'));
    assert.equal(await c.expect('$1\r\nb\r\n'), '$1\r\nb\r\n');
  });

  it('CLIENT SETNAME/GETNAME/ID/INFO describe this connection', async () => {
    const c = await connect();
    c.send(cmd('CLIENT', 'SETNAME', 'worker-1') + cmd('CLIENT', 'GETNAME') + cmd('CLIENT', 'INFO'));
    assert.equal(await c.expect('+OK\r\n$8\r\nworker-1\r\n'), '+OK\r\n$8\r\nworker-1\r\n');
    const info = await c.replies();
    assert.match(info, /^\$\d+\r\nid=\d+ addr=127\.0\.0\.1:\d+ laddr=127\.0\.0\.1:\d+ fd=8 name=worker-1 .* cmd=client\|info user=default redir=-1 resp=2 /);
    c.send(cmd('CLIENT', 'SETNAME', 'has space'));
    const want = '-ERR Client names cannot contain spaces, newlines or special characters.\r\n';
    assert.equal(await c.expect(want), want);
  });

  it('CLIENT KILL ID closes the other connection and counts it', async () => {
    const victim = await connect();
    victim.send(cmd('CLIENT', 'ID'));
    const idReply = await victim.replies();
    const id = /^:(\d+)\r\n$/.exec(idReply)?.[1];
    assert.ok(id !== undefined, idReply);
    const killer = await connect();
    killer.send(cmd('CLIENT', 'KILL', 'ID', id));
    assert.equal(await killer.expect(':1\r\n'), ':1\r\n');
    await victim.readToClose();
    assert.equal(victim.closed, true);
  });

  it('COMMAND COUNT, INFO and GETKEYS come from the command specs', async () => {
    const c = await connect();
    c.send(cmd('COMMAND', 'GETKEYS', 'MSET', 'a', '1', 'b', '2') + cmd('COMMAND', 'INFO', 'nosuch'));
    const want = '*2\r\n$1\r\na\r\n$1\r\nb\r\n*1\r\n$-1\r\n';
    assert.equal(await c.expect(want), want);
    c.send(cmd('COMMAND', 'INFO', 'get'));
    const info = await c.replies();
    assert.ok(info.startsWith('*1\r\n*10\r\n$3\r\nget\r\n:2\r\n'), info);
  });

  it('CONFIG GET answers the probes redis-benchmark and tools send', async () => {
    const c = await connect();
    c.send(cmd('CONFIG', 'GET', 'save') + cmd('CONFIG', 'GET', 'appendonly') + cmd('CONFIG', 'GET', 'nosuchparam'));
    const want = '*2\r\n$4\r\nsave\r\n$0\r\n\r\n*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n*0\r\n';
    assert.equal(await c.expect(want), want);
  });

  it('CONFIG SET validates through the schema and reports Redis-style errors', async () => {
    const c = await connect();
    c.send(cmd('CONFIG', 'SET', 'foo', 'bar') + cmd('CONFIG', 'SET', 'hz', '0') + cmd('CONFIG', 'SET', 'hz', '20') + cmd('CONFIG', 'GET', 'hz'));
    const got = await c.replies(4);
    assert.match(
      got,
      /^-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n-ERR CONFIG SET failed \(possibly related to argument 'hz'\) - [^\r\n]+\r\n\+OK\r\n\*2\r\n\$2\r\nhz\r\n\$2\r\n20\r\n$/,
    );
    assert.equal(t.server.config.hz, 20);
    c.send(cmd('CONFIG', 'REWRITE'));
    assert.equal(await c.expect('-ERR The server is running without a config file\r\n'), '-ERR The server is running without a config file\r\n');
  });

  it('INFO reports loading:0, role:master and the keyspace line', async () => {
    const c = await connect();
    c.send(cmd('SET', 'infokey', 'x') + cmd('INFO'));
    await c.expect('+OK\r\n');
    const text = await c.replies();
    assert.match(text, /\r\nloading:0\r\n/);
    assert.match(text, /\r\nrole:master\r\n/);
    assert.match(text, /\r\n# Keyspace\r\ndb0:keys=\d+,expires=0,avg_ttl=0\r\n/);
    assert.match(text, /^\$\d+\r\n# Server\r\nredis_version:7\.0\.15\r\n/);
    assert.match(text, new RegExp(`\r\ntcp_port:${t.port}\r\n`));
  });

  it('INFO commandstats/errorstats count calls, rejections and errors; CONFIG RESETSTAT clears them', async () => {
    const t2 = await startServer();
    const c = await RawClient.connect(t2.port);
    c.send(cmd('SET', 'a', '1') + cmd('GET', 'a') + cmd('GET', 'a') + cmd('GET') + cmd('nosuch') + cmd('BOOM'));
    await c.replies(6);
    c.send(cmd('INFO', 'commandstats', 'errorstats'));
    const text = await c.replies();
    assert.match(text, /\r\ncmdstat_get:calls=2,usec=\d+,usec_per_call=[\d.]+,rejected_calls=1,failed_calls=0\r\n/);
    assert.match(text, /\r\ncmdstat_boom:calls=1,usec=\d+,usec_per_call=[\d.]+,rejected_calls=0,failed_calls=1\r\n/);
    assert.match(text, /\r\nerrorstat_ERR:count=3\r\n/);
    c.send(cmd('CONFIG', 'RESETSTAT') + cmd('INFO', 'commandstats'));
    const after = await c.replies(2);
    assert.ok(after.startsWith('+OK\r\n'), after);
    assert.doesNotMatch(after, /cmdstat_get/);
    c.close();
    await t2.server.close(1000);
  });

  it('CLIENT LIST reports the running command in qbuf, as Redis does', async () => {
    const c = await connect();
    c.send(cmd('CLIENT', 'LIST', 'ID', '999999') + cmd('CLIENT', 'INFO'));
    assert.equal(await c.expect('$0\r\n\r\n'), '$0\r\n\r\n');
    assert.match(await c.replies(), / qbuf=26 /);
  });

  it('round-trips a 1 MB value', async () => {
    const c = await connect();
    const v = 'x'.repeat(1024 * 1024);
    c.send(cmd('SET', 'big', v) + cmd('GET', 'big'));
    const want = `+OK\r\n$${v.length}\r\n${v}\r\n`;
    assert.equal(await c.expect(want, 5000), want);
  });

  it('pauses and resumes under output backpressure without losing or reordering replies', async () => {
    const c = await connect();
    const v = 'y'.repeat(1024 * 1024);
    c.send(cmd('SET', 'bp', v));
    await c.expect('+OK\r\n');
    let req = '';
    let want = '';
    for (let i = 0; i < 20; i++) {
      req += cmd('GET', 'bp') + cmd('ECHO', String(i));
      want += `$${v.length}\r\n${v}\r\n$${String(i).length}\r\n${i}\r\n`;
    }
    c.send(req);
    assert.equal(await c.expect(want, 10_000), want);
  });

  it('answers everything a client sent before it half-closed', async () => {
    const c = await connect();
    c.send(cmd('SLOW', '20', 'x') + cmd('PING'));
    c.socket.end();
    assert.equal(await c.readToClose(), '$1\r\nx\r\n+PONG\r\n');
  });
});

describe('resp server: limits and lifecycle', () => {
  it('refuses clients over maxclients with Redis\'s error and counts them', async () => {
    const t = await startServer({ maxclients: 2 });
    const a = await RawClient.connect(t.port);
    const b = await RawClient.connect(t.port);
    a.send(cmd('PING'));
    await a.expect('+PONG\r\n');
    b.send(cmd('PING'));
    await b.expect('+PONG\r\n');
    const c = await RawClient.connect(t.port);
    assert.equal(await c.readToClose(), '-ERR max number of clients reached\r\n');
    a.send(cmd('INFO', 'stats'));
    assert.match(await a.replies(), /rejected_connections:1\r\n/);
    a.close();
    b.close();
    await t.server.close(1000);
  });

  it('requires AUTH when requirepass is set (NOAUTH, WRONGPASS, then OK)', async () => {
    const t = await startServer({ requirepass: 's3cret' });
    const c = await RawClient.connect(t.port);
    c.send(cmd('GET', 'k') + cmd('AUTH', 'wrong') + cmd('HELLO', '3') + cmd('AUTH', 's3cret') + cmd('GET', 'k'));
    const want =
      '-NOAUTH Authentication required.\r\n' +
      '-WRONGPASS invalid username-password pair or user is disabled.\r\n' +
      '-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n' +
      '+OK\r\n$-1\r\n';
    assert.equal(await c.expect(want), want);
    const d = await RawClient.connect(t.port);
    d.send(cmd('HELLO', '3', 'AUTH', 'default', 's3cret') + cmd('GET', 'k'));
    const hello = await d.replies(2);
    assert.ok(hello.startsWith('%7\r\n') && hello.endsWith('_\r\n'), hello);
    c.close();
    d.close();
    await t.server.close(1000);
  });

  it('AUTH without a configured password gives Redis 7\'s error', async () => {
    const t = await startServer();
    const c = await RawClient.connect(t.port);
    c.send(cmd('AUTH', 'x') + cmd('AUTH', 'default', 'anything'));
    const want =
      '-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n+OK\r\n';
    assert.equal(await c.expect(want), want);
    c.close();
    await t.server.close(1000);
  });

  it('keeps order and answers everything with a tiny pipeline bound', async () => {
    const t = await startServer({ pipelineDepthMax: 2 });
    const c = await RawClient.connect(t.port);
    let req = '';
    let want = '';
    for (let i = 0; i < 200; i++) {
      if (i % 20 === 0) {
        req += cmd('SLOW', '2', `s${i}`);
        want += `$${`s${i}`.length}\r\ns${i}\r\n`;
      } else {
        req += cmd('ECHO', `e${i}`);
        want += `$${`e${i}`.length}\r\ne${i}\r\n`;
      }
    }
    c.send(req);
    assert.equal(await c.expect(want, 5000), want);
    c.close();
    await t.server.close(1000);
  });

  it('parses ahead at most pipelineDepthMax commands while a handler is pending', async () => {
    const qbufWhileBusy = async (depth: number): Promise<number> => {
      const t = await startServer({ pipelineDepthMax: depth });
      const a = await RawClient.connect(t.port);
      const b = await RawClient.connect(t.port);
      a.send(cmd('CLIENT', 'ID'));
      const id = /^:(\d+)\r\n$/.exec(await a.replies())?.[1] ?? '';
      a.send(cmd('SLOW', '300', 'x'));
      await new Promise((r) => setTimeout(r, 30));
      let req = '';
      for (let i = 0; i < 500; i++) req += cmd('ECHO', 'payload-payload');
      a.send(req); // arrives while SLOW is pending
      await new Promise((r) => setTimeout(r, 100));
      b.send(cmd('CLIENT', 'LIST', 'ID', id));
      const line = await b.replies();
      a.close();
      b.close();
      await t.server.close(1000);
      return Number(/ qbuf=(\d+) /.exec(line)?.[1] ?? 'NaN');
    };
    // Bounded: most of the pipeline is still unparsed bytes. Unbounded: all parsed into the queue.
    assert.ok((await qbufWhileBusy(4)) > 10_000);
    assert.equal(await qbufWhileBusy(100_000), 0);
  });

  it('closes idle clients after `timeout` seconds (CONFIG SET applies to live clients)', async () => {
    const t = await startServer();
    const c = await RawClient.connect(t.port);
    c.send(cmd('CONFIG', 'SET', 'timeout', '1'));
    assert.equal(await c.expect('+OK\r\n'), '+OK\r\n');
    const started = Date.now();
    await c.readToClose(4000);
    assert.equal(c.closed, true);
    assert.ok(Date.now() - started >= 900);
    await t.server.close(1000);
  });

  it('graceful close lets the in-flight command answer, then ends the socket', async () => {
    const t = await startServer();
    const c = await RawClient.connect(t.port);
    c.send(cmd('SLOW', '100', 'done'));
    await new Promise((r) => setTimeout(r, 20));
    const closing = t.server.close(2000);
    assert.equal(await c.readToClose(), '$4\r\ndone\r\n');
    await closing;
    assert.equal(c.closed, true);
  });

  it('survives random bytes from many clients: each gets replies or a protocol error, the server stays up', async () => {
    const t = await startServer();
    const token = fc.constantFrom('*', '$', '\r\n', '\n', '1', '3', '-1', 'PING', 'ECHO', ' ', '"', "'", 'x', '\\x4', '0');
    const inputs = fc.sample(
      fc.oneof(fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)), fc.array(token, { maxLength: 40 }).map((a) => Buffer.from(a.join(''), 'latin1'))),
      { numRuns: 60, seed: 42 },
    );
    await Promise.all(
      inputs.map(async (input) => {
        const c = await RawClient.connect(t.port);
        c.send(input);
        const out = await c.readToClose(150);
        c.close();
        // Whatever came back is a sequence of complete RESP replies, nothing torn.
        const b = Buffer.from(out, 'latin1');
        let at = 0;
        while (at < b.length) {
          const end = replyEnd(b, at);
          assert.ok(end > at, `torn reply in ${JSON.stringify(out.slice(0, 120))}`);
          at = end;
        }
      }),
    );
    const c = await RawClient.connect(t.port);
    c.send(cmd('PING'));
    assert.equal(await c.expect('+PONG\r\n'), '+PONG\r\n');
    c.close();
    await t.server.close(1000);
  });

  it('close destroys connections still busy at the deadline', async () => {
    const t = await startServer();
    const c = await RawClient.connect(t.port);
    c.send(cmd('SLOW', '5000', 'never'));
    await new Promise((r) => setTimeout(r, 20));
    const started = Date.now();
    await t.server.close(100);
    assert.ok(Date.now() - started < 2000);
    await c.readToClose(1000);
    assert.equal(c.closed, true);
  });
});

describe('resp server: admin and connection commands', () => {
  let t: TestServer;
  let c: RawClient;
  before(async () => {
    t = await startServer();
    c = await RawClient.connect(t.port);
  });
  after(async () => {
    c.close();
    await t.server.close(1000);
  });

  it('DBSIZE counts keys and FLUSHALL/FLUSHDB [ASYNC|SYNC] empty the store', async () => {
    c.send(cmd('SET', 'a', '1') + cmd('SET', 'b', '2') + cmd('DBSIZE') + cmd('FLUSHALL', 'ASYNC') + cmd('DBSIZE'));
    assert.equal(await c.replies(5), '+OK\r\n+OK\r\n:2\r\n+OK\r\n:0\r\n');
    c.send(cmd('SET', 'a', '1') + cmd('FLUSHDB', 'SYNC') + cmd('DBSIZE') + cmd('FLUSHDB', 'LATER'));
    assert.equal(await c.replies(4), '+OK\r\n+OK\r\n:0\r\n-ERR syntax error\r\n');
  });

  it('SELECT accepts only database 0', async () => {
    c.send(cmd('SELECT', '0') + cmd('SELECT', '1') + cmd('SELECT', 'x'));
    assert.equal(await c.replies(3), '+OK\r\n-ERR DB index is out of range\r\n-ERR value is not an integer or out of range\r\n');
  });

  it('TIME returns seconds and microseconds; LASTSAVE a Unix time', async () => {
    c.send(cmd('TIME') + cmd('LASTSAVE'));
    const got = await c.replies(2);
    const m = /^\*2\r\n\$\d+\r\n(\d+)\r\n\$\d+\r\n(\d+)\r\n:(\d+)\r\n$/.exec(got);
    assert.ok(m !== null, got);
    const now = Date.now() / 1000;
    assert.ok(Math.abs(Number(m[1]) - now) < 5);
    assert.ok(Number(m[2]) < 1_000_000);
    assert.ok(Math.abs(Number(m[3]) - now) < 60);
  });

  it('ECHO, PING with a message, DEBUG and RESET reply as Redis 7', async () => {
    c.send(cmd('ECHO', 'a\r\nb') + cmd('DEBUG', 'sleep', '0') + cmd('HELLO', '3') + cmd('RESET') + cmd('GET', 'nokey'));
    const got = await c.replies(5);
    assert.ok(got.startsWith("$4\r\na\r\nb\r\n-ERR unknown subcommand 'sleep'. Try DEBUG HELP.\r\n%7\r\n"), got);
    assert.ok(got.endsWith('+RESET\r\n$-1\r\n'), got); // RESET went back to RESP2
  });

  it('CONFIG GET takes several glob patterns and returns each match once', async () => {
    c.send(cmd('CONFIG', 'GET', 'maxmemory', 'maxmemory*', 'TIME*'));
    const got = await c.replies();
    assert.equal(
      got,
      '*8\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n$17\r\nmaxmemory-samples\r\n$1\r\n5\r\n$7\r\ntimeout\r\n$1\r\n0\r\n',
    );
  });

  it('CONFIG SET applies several pairs atomically, or none when one is invalid', async () => {
    c.send(cmd('CONFIG', 'SET', 'maxmemory-samples', '7', 'hz', '999') + cmd('CONFIG', 'GET', 'maxmemory-samples'));
    const got = await c.replies(2);
    assert.match(got, /^-ERR CONFIG SET failed \(possibly related to argument 'hz'\) - [^\r\n]+\r\n\*2\r\n\$17\r\nmaxmemory-samples\r\n\$1\r\n5\r\n$/);
    c.send(cmd('CONFIG', 'SET', 'maxmemory-samples', '7', 'hz', '50') + cmd('CONFIG', 'SET', 'port', '1') + cmd('CONFIG', 'SET', 'save', '900 1'));
    const got2 = await c.replies(3);
    assert.match(got2, /^\+OK\r\n-ERR CONFIG SET failed \(possibly related to argument 'port'\) - can't set immutable config\r\n-ERR CONFIG SET failed \(possibly related to argument 'save'\) - [^\r\n]+\r\n$/);
    assert.equal(t.server.config.maxmemorySamples, 7);
    assert.equal(t.server.config.hz, 50);
  });

  it('onConfigChange listeners hear CONFIG SET with the next and previous config', async () => {
    const seen: [number, number][] = [];
    const off = t.server.onConfigChange((next, prev) => seen.push([next.maxmemory, prev.maxmemory]));
    c.send(cmd('CONFIG', 'SET', 'maxmemory', '1mb'));
    assert.equal(await c.replies(), '+OK\r\n');
    off();
    assert.deepEqual(seen, [[1024 * 1024, 0]]);
  });

  it('COMMAND LIST includes subcommands and filters by ACL category and pattern', async () => {
    c.send(cmd('COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'client|*') + cmd('COMMAND', 'LIST', 'FILTERBY', 'ACLCAT', 'connection'));
    const got = await c.replies(2);
    assert.match(got, /\$11\r\nclient\|list\r\n/);
    assert.match(got, /\$4\r\nping\r\n/);
    c.send(cmd('COMMAND', 'LIST'));
    const all = await c.replies();
    assert.match(all, /\r\n\$3\r\nget\r\n/);
    assert.match(all, /\r\n\$10\r\nconfig\|get\r\n/);
  });

  it('COMMAND DOCS in RESP3 is a map of maps; GETKEYS rejects keyless and unknown commands', async () => {
    c.send(cmd('HELLO', '3') + cmd('COMMAND', 'DOCS', 'echo') + cmd('COMMAND', 'GETKEYS', 'PING') + cmd('COMMAND', 'GETKEYS', 'NOPE', 'x') + cmd('HELLO', '2'));
    const got = await c.replies(5);
    assert.ok(
      got.includes(
        '%1\r\n$4\r\necho\r\n%3\r\n$7\r\nsummary\r\n$25\r\nReturns the given string.\r\n$5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\ngroup\r\n$10\r\nconnection\r\n' +
          '-ERR The command has no key arguments\r\n-ERR Invalid command specified\r\n',
      ),
      got,
    );
  });

  it('INFO stats reports instantaneous_ops_per_sec from recent traffic', async () => {
    const batch = cmd('PING').repeat(1000);
    for (let i = 0; i < 8; i++) {
      c.send(batch);
      await c.replies(1000);
      await new Promise((r) => setTimeout(r, 40));
    }
    c.send(cmd('INFO', 'stats'));
    const ops = Number(/instantaneous_ops_per_sec:(\d+)\r\n/.exec(await c.replies())?.[1]);
    assert.ok(ops > 100, `instantaneous_ops_per_sec ${ops}`);
  });

  it('INFO in RESP3 is a verbatim string; unknown sections are empty', async () => {
    c.send(cmd('HELLO', '3') + cmd('INFO', 'cpu') + cmd('INFO', 'nosuchsection') + cmd('HELLO', '2'));
    const got = await c.replies(4);
    assert.match(got, /\r\n=\d+\r\ntxt:# CPU\r\nused_cpu_sys:[\d.]+\r\n/);
    assert.match(got, /\r\n=4\r\ntxt:\r\n/);
  });
});

describe('resp server: MULTI/EXEC/DISCARD', () => {
  let t: TestServer;
  before(async () => {
    t = await startServer();
  });
  after(async () => {
    await t.server.close(1000);
  });

  it('queues commands and EXEC replies each one, errors as elements', async () => {
    const c = await RawClient.connect(t.port);
    c.send(cmd('MULTI') + cmd('SET', 'tx:a', 'x') + cmd('INCR', 'tx:a') + cmd('GET', 'tx:a') + cmd('EXEC'));
    const want =
      '+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n' +
      '*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n$1\r\nx\r\n';
    assert.equal(await c.replies(5), want);
    c.close();
  });

  it('a command that fails to queue aborts EXEC with EXECABORT and nothing runs', async () => {
    const c = await RawClient.connect(t.port);
    c.send(cmd('MULTI') + cmd('SET', 'tx:b', '1') + cmd('NOSUCH') + cmd('GET') + cmd('EXEC') + cmd('GET', 'tx:b'));
    const got = await c.replies(6);
    assert.equal(
      got,
      "+OK\r\n+QUEUED\r\n-ERR unknown command 'NOSUCH', with args beginning with: \r\n" +
        "-ERR wrong number of arguments for 'get' command\r\n" +
        '-EXECABORT Transaction discarded because of previous errors.\r\n$-1\r\n',
    );
    c.close();
  });

  it('answers EXEC/DISCARD without MULTI, nested MULTI, and DISCARD drops the queue', async () => {
    const c = await RawClient.connect(t.port);
    c.send(cmd('EXEC') + cmd('DISCARD') + cmd('MULTI') + cmd('MULTI') + cmd('SET', 'tx:c', '1') + cmd('DISCARD') + cmd('GET', 'tx:c'));
    assert.equal(
      await c.replies(7),
      '-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n+OK\r\n-ERR MULTI calls can not be nested\r\n+QUEUED\r\n+OK\r\n$-1\r\n',
    );
    c.send(cmd('MULTI') + cmd('SET', 'tx:c', '1') + cmd('RESET') + cmd('EXEC'));
    assert.equal(await c.replies(4), '+OK\r\n+QUEUED\r\n+RESET\r\n-ERR EXEC without MULTI\r\n');
    c.close();
  });

  it('EXEC is isolated: no other connection runs a command while its queue runs', async () => {
    const a = await RawClient.connect(t.port);
    const b = await RawClient.connect(t.port);
    a.send(cmd('MULTI') + cmd('SET', 'tx:iso', 'before') + cmd('SLOW', '150', 'x') + cmd('SET', 'tx:iso', 'after') + cmd('EXEC'));
    await new Promise((r) => setTimeout(r, 40)); // EXEC is now inside SLOW
    b.send(cmd('GET', 'tx:iso'));
    assert.equal(await b.replies(), '$5\r\nafter\r\n');
    assert.equal(await a.replies(5), '+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n$1\r\nx\r\n+OK\r\n');
    a.close();
    b.close();
  });

  it('EXEC waits for commands already in flight on other connections', async () => {
    const a = await RawClient.connect(t.port);
    const b = await RawClient.connect(t.port);
    b.send(cmd('SLOW', '150', 'b-done'));
    await new Promise((r) => setTimeout(r, 20));
    a.send(cmd('MULTI') + cmd('ECHO', 'in-exec') + cmd('EXEC'));
    const order: string[] = [];
    await Promise.all([
      a.replies(3).then(() => order.push('exec')),
      b.replies().then(() => order.push('slow')),
    ]);
    assert.deepEqual(order, ['slow', 'exec']);
    a.close();
    b.close();
  });

  it('WATCH: EXEC answers a null array when a watched key changed, and runs when none did', async () => {
    const a = await RawClient.connect(t.port);
    const b = await RawClient.connect(t.port);
    a.send(cmd('SET', 'w:k', '1') + cmd('WATCH', 'w:k', 'w:absent'));
    assert.equal(await a.replies(2), '+OK\r\n+OK\r\n');
    b.send(cmd('SET', 'w:k', '2'));
    assert.equal(await b.replies(), '+OK\r\n');
    a.send(cmd('MULTI') + cmd('SET', 'w:x', 'ran') + cmd('EXEC') + cmd('GET', 'w:x'));
    assert.equal(await a.replies(4), '+OK\r\n+QUEUED\r\n*-1\r\n$-1\r\n');
    // The failed EXEC unwatched: the same transaction now runs.
    a.send(cmd('WATCH', 'w:k') + cmd('MULTI') + cmd('SET', 'w:x', 'ran') + cmd('EXEC'));
    assert.equal(await a.replies(4), '+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n');
    a.close();
    b.close();
  });

  it('WATCH inside MULTI is refused; UNWATCH forgets; an expired watched key aborts EXEC', async () => {
    const c = await RawClient.connect(t.port);
    c.send(cmd('MULTI') + cmd('WATCH', 'w:y') + cmd('EXEC'));
    assert.equal(await c.replies(3), '+OK\r\n-ERR WATCH inside MULTI is not allowed\r\n*0\r\n');
    c.send(cmd('WATCH', 'w:y') + cmd('SET', 'w:y', 'changed') + cmd('UNWATCH') + cmd('MULTI') + cmd('PING') + cmd('EXEC'));
    assert.equal(await c.replies(6), '+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n');
    c.send(cmd('SET', 'w:e', 'v', 'PX', '40') + cmd('WATCH', 'w:e'));
    assert.equal(await c.replies(2), '+OK\r\n+OK\r\n');
    await new Promise((r) => setTimeout(r, 80));
    c.send(cmd('MULTI') + cmd('PING') + cmd('EXEC'));
    assert.equal(await c.replies(3), '+OK\r\n+QUEUED\r\n*-1\r\n');
    c.close();
  });

  it('ioredis MULTI/EXEC returns each reply', async () => {
    const { Redis } = await import('ioredis');
    const r = new Redis({ host: '127.0.0.1', port: t.port, lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await r.connect();
      const res = await r.multi().set('tx:io', 'v').get('tx:io').incr('tx:n').exec();
      assert.deepEqual(res, [[null, 'OK'], [null, 'v'], [null, 1]]);
    } finally {
      r.disconnect();
    }
  });
});
