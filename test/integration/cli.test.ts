/**
 * The `ringkv` command as a real process: version and help, configuration errors (exit 2, every
 * problem listed with its source), start-up failures (one clear line, exit 1, no stack trace).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { killAll, runCli, startRingkv, stop, tempDir } from './cli-process.js';

after(killAll);

/** A stack trace line looks like "    at fn (file:line:col)". */
const STACK_LINE = /^\s+at\s/m;

describe('cli', () => {
  it('cli: --version prints the package version and exits 0', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+/);
  });

  it('cli: help lists the start command and start --help lists config flags', async () => {
    const r = await runCli(['help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /start \[options\]/);
    const s = await runCli(['help', 'start']);
    assert.equal(s.code, 0);
    for (const flag of ['--resp-port', '--http-port', '--data-dir', '--engine', '--maxmemory-policy', '--durability', '--rocksdb-compression']) {
      assert.ok(s.stdout.includes(flag), `help should list ${flag}`);
    }
  });

  it('cli: a bad config exits 2 and lists every problem from file, env and flags', async () => {
    const dir = tempDir('ringkv-cli-');
    try {
      const file = join(dir.path, 'bad.yaml');
      writeFileSync(file, 'respPort: abc\nmaxmemory-policy: sometimes\nbogusKey: 1\n');
      const r = await runCli(['start', '--config', file, '--hz', '9999', '--engine', 'disk'], { env: { RINGKV_DURABILITY: 'always', RINGKV_NOPE: 'x' } });
      assert.equal(r.code, 2);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines[0], 'ringkv: invalid configuration (7 problems):');
      const body = lines.slice(1).join('\n');
      for (const needle of [
        `file ${file}: bogusKey: unknown key`,
        `file ${file}: respPort: not a number: "abc"`,
        `file ${file}: maxmemory-policy: "sometimes" is not one of`,
        'env RINGKV_NOPE: unknown variable',
        'env RINGKV_DURABILITY: "always" is not one of none, batch, fsync',
        'flag --engine: "disk" is not one of rocksdb, memory',
        'flag --hz: 9999 is too big (at most 500)',
      ]) {
        assert.ok(body.includes(needle), `expected "${needle}" in:\n${body}`);
      }
      assert.doesNotMatch(r.stderr, STACK_LINE);
    } finally {
      dir.remove();
    }
  });

  it('cli: an unknown flag exits 2 with a suggestion, even when other flags follow it', async () => {
    const r = await runCli(['start', '--resp-prot', '6379', '--hz', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /flag --resp-prot: unknown flag \(did you mean resp-port\?\)/);
    // Flags after the unknown one are still checked.
    assert.match(r.stderr, /flag --hz: not a number: "x"/);
  });

  it('cli: a missing config file exits 2 naming the file', async () => {
    const r = await runCli(['start', '--config', '/nonexistent/ringkv.yaml']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /file \/nonexistent\/ringkv\.yaml: file not found/);
  });

  it('cli: an unknown command exits 2', async () => {
    const r = await runCli(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command/);
  });

  it('cli: a RESP port in use gives one clear line on stderr and exit 1', async () => {
    const dir = tempDir('ringkv-cli-');
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const a = blocker.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      const r = await runCli(['start', '--engine', 'rocksdb', '--data-dir', dir.path, '--host', '127.0.0.1', '--resp-port', String(port), '--http-port', '0']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim(), `ringkv: resp port 127.0.0.1:${port} is already in use (EADDRINUSE)`);
      assert.doesNotMatch(r.stderr, STACK_LINE);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
      dir.remove();
    }
  });

  it('cli: an HTTP port in use fails start-up and releases the data directory', async () => {
    const dir = tempDir('ringkv-cli-');
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const a = blocker.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      const r = await runCli(['start', '--engine', 'rocksdb', '--data-dir', dir.path, '--host', '127.0.0.1', '--resp-port', '0', '--http-port', String(port)]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim(), `ringkv: http port 127.0.0.1:${port} is already in use (EADDRINUSE)`);
      // The rocksdb lock was released: a node starts on the same directory right after.
      const p = await startRingkv(['--engine', 'rocksdb', '--data-dir', dir.path]);
      assert.equal((await stop(p)).code, 0);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
      dir.remove();
    }
  });

  it('cli: a data directory that is a file gives one clear line and exit 1', async () => {
    const dir = tempDir('ringkv-cli-');
    try {
      const file = join(dir.path, 'not-a-dir');
      writeFileSync(file, 'x');
      const r = await runCli(['start', '--engine', 'rocksdb', '--data-dir', file, '--resp-port', '0', '--http-port', '0']);
      assert.equal(r.code, 1);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0] ?? '', new RegExp(`^ringkv: cannot open data directory ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    } finally {
      dir.remove();
    }
  });

  it('cli: a second node on a data directory in use fails with one line, the first keeps running', async () => {
    const dir = tempDir('ringkv-cli-');
    try {
      const first = await startRingkv(['--engine', 'rocksdb', '--data-dir', dir.path]);
      const r = await runCli(['start', '--engine', 'rocksdb', '--data-dir', dir.path, '--resp-port', '0', '--http-port', '0']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^ringkv: cannot open data directory /);
      assert.equal(first.child.exitCode, null);
      assert.equal((await stop(first)).code, 0);
    } finally {
      dir.remove();
    }
  });

  it('cli: start logs one JSON line saying where to connect', async () => {
    const p = await startRingkv(['--engine', 'memory']);
    try {
      const line = p.stdoutLines.map((l) => JSON.parse(l) as { msg?: string; level?: string }).find((j) => j.msg?.startsWith('ringkv listening'));
      assert.ok(line);
      assert.equal(line.level, 'info');
      assert.match(line.msg ?? '', new RegExp(`^ringkv listening resp=127\\.0\\.0\\.1:${p.respPort} http=off engine=memory$`));
    } finally {
      assert.equal((await stop(p)).code, 0);
    }
  });
});
