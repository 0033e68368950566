/**
 * Config loading: precedence (defaults < file < env < flags), naming in each source, unknown
 * keys everywhere, every problem reported at once with its source, and a frozen result.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CONFIG_KEYS, ConfigError, defaultConfig, loadConfig, type ConfigProblem, type LoadConfigOptions } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

function problemsOf(options: LoadConfigOptions): readonly ConfigProblem[] {
  try {
    loadConfig(options);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'ERR_CONFIG');
    return e.problems;
  }
  assert.fail('expected loadConfig to throw');
}

const file = (text: string) => ({ configPath: 'ringkv.yaml', readFile: () => text });

describe('config: defaults and precedence', () => {
  it('config: with no sources the result equals the schema defaults', () => {
    assert.deepEqual(loadConfig(), configSchema.parse({}));
  });

  it('config: file overrides defaults, env overrides file, flags override env', () => {
    const base = file('respPort: 1111\nhttpPort: 2222\nhz: 20\nengine: memory\n');
    const onlyFile = loadConfig(base);
    assert.equal(onlyFile.respPort, 1111);
    assert.equal(onlyFile.engine, 'memory');

    const withEnv = loadConfig({ ...base, env: { RINGKV_RESP_PORT: '3333', RINGKV_HZ: '30' } });
    assert.equal(withEnv.respPort, 3333);
    assert.equal(withEnv.httpPort, 2222);
    assert.equal(withEnv.hz, 30);

    const withFlags = loadConfig({ ...base, env: { RINGKV_RESP_PORT: '3333', RINGKV_HZ: '30' }, flags: [{ name: 'resp-port', value: '4444' }] });
    assert.equal(withFlags.respPort, 4444);
    assert.equal(withFlags.hz, 30);
    assert.equal(withFlags.httpPort, 2222);
  });

  it('config: a later flag overrides an earlier one', () => {
    const c = loadConfig({ flags: [{ name: 'hz', value: '5' }, { name: 'hz', value: '7' }] });
    assert.equal(c.hz, 7);
  });

  it('config: nested groups are set from file mapping, env and flag alike', () => {
    assert.equal(loadConfig(file('rocksdb:\n  compression: zstd\n')).rocksdb.compression, 'zstd');
    assert.equal(loadConfig({ env: { RINGKV_ROCKSDB_COMPRESSION: 'none' } }).rocksdb.compression, 'none');
    const c = loadConfig({ flags: [{ name: 'rocksdb-block-cache-bytes', value: '8mb' }] });
    assert.equal(c.rocksdb.blockCacheBytes, 8 * 1024 * 1024);
    // Setting one nested key keeps the group's other defaults.
    assert.equal(c.rocksdb.compression, 'zstd');
  });

  it('config: sizes accept Redis units from every source', () => {
    assert.equal(loadConfig(file('maxmemory: 1gb\n')).maxmemory, 1024 ** 3);
    assert.equal(loadConfig({ env: { RINGKV_MAXMEMORY: '10k' } }).maxmemory, 10_000);
    assert.equal(loadConfig({ flags: [{ name: 'maxmemory', value: '123' }] }).maxmemory, 123);
  });

  it('config: the result is deeply frozen', () => {
    const c = loadConfig();
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.rocksdb));
    assert.throws(() => { (c as { respPort: number }).respPort = 1; }, TypeError);
  });

  it('config: RINGKV_CONFIG names the file and --config (configPath) wins over it', () => {
    const reads: string[] = [];
    const readFile = (p: string) => { reads.push(p); return 'hz: 42\n'; };
    assert.equal(loadConfig({ env: { RINGKV_CONFIG: 'a.yaml' }, readFile }).hz, 42);
    loadConfig({ env: { RINGKV_CONFIG: 'a.yaml' }, configPath: 'b.yaml', readFile });
    assert.deepEqual(reads, ['a.yaml', 'b.yaml']);
  });

  it('config: environment variables without the RINGKV_ prefix are ignored', () => {
    assert.doesNotThrow(() => loadConfig({ env: { PATH: '/bin', HOME: '/root', RESP_PORT: 'x' } }));
  });
});

describe('config: file formats and names', () => {
  it('config: YAML and JSON files are read from disk, by extension', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringkv-config-'));
    try {
      const y = join(dir, 'c.yml');
      writeFileSync(y, '# comment\nrespPort: 7000\nrocksdb: { compression: none }\n');
      const j = join(dir, 'c.json');
      writeFileSync(j, JSON.stringify({ respPort: 7001, maxmemoryPolicy: 'allkeys-lru' }));
      assert.equal(loadConfig({ configPath: y }).respPort, 7000);
      assert.equal(loadConfig({ configPath: y }).rocksdb.compression, 'none');
      const cj = loadConfig({ configPath: j });
      assert.equal(cj.respPort, 7001);
      assert.equal(cj.maxmemoryPolicy, 'allkeys-lru');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('config: Redis-style kebab-case keys in a file mean the same as camelCase', () => {
    const c = loadConfig(file('maxmemory-policy: allkeys-lfu\nproto-max-bulk-len: 1mb\nresp-port: 6400\nrocksdb:\n  block-cache-bytes: 1mb\n'));
    assert.equal(c.maxmemoryPolicy, 'allkeys-lfu');
    assert.equal(c.protoMaxBulkLen, 1024 * 1024);
    assert.equal(c.respPort, 6400);
    assert.equal(c.rocksdb.blockCacheBytes, 1024 * 1024);
  });

  it('config: the same key given in both spellings in one file is a problem', () => {
    const p = problemsOf(file('respPort: 1\nresp-port: 2\n'));
    assert.equal(p.length, 1);
    assert.match(p[0]?.message ?? '', /duplicate of respPort/);
  });

  it('config: an empty file sets nothing', () => {
    assert.deepEqual(loadConfig(file('')), configSchema.parse({}));
  });

  it('config: a missing file, a syntax error and a non-mapping file are each reported', () => {
    const missing = problemsOf({ configPath: '/nonexistent/ringkv.yaml' });
    assert.deepEqual(missing.map((x) => [x.source, x.where, x.message]), [['file', '/nonexistent/ringkv.yaml', 'file not found']]);
    const bad = problemsOf({ configPath: 'x.json', readFile: () => '{"respPort": ' });
    assert.match(bad[0]?.message ?? '', /^cannot parse/);
    const list = problemsOf(file('- 1\n- 2\n'));
    assert.match(list[0]?.message ?? '', /mapping/);
  });

  it('config: a group given a scalar in the file is reported, not crashed on', () => {
    const p = problemsOf(file('rocksdb: 5\n'));
    assert.equal(p.length, 1);
    assert.equal(p[0]?.where, 'ringkv.yaml: rocksdb');
  });

  it('config: every schema key has a distinct env name and flag name', () => {
    const envs = new Set(CONFIG_KEYS.map((k) => k.env));
    const flags = new Set(CONFIG_KEYS.map((k) => k.flag));
    assert.equal(envs.size, CONFIG_KEYS.length);
    assert.equal(flags.size, CONFIG_KEYS.length);
    const resp = CONFIG_KEYS.find((k) => k.name === 'respPort');
    assert.deepEqual([resp?.env, resp?.flag], ['RINGKV_RESP_PORT', 'resp-port']);
    const comp = CONFIG_KEYS.find((k) => k.name === 'rocksdb.compression');
    assert.deepEqual([comp?.env, comp?.flag, comp?.kind], ['RINGKV_ROCKSDB_COMPRESSION', 'rocksdb-compression', 'enum']);
    assert.ok(CONFIG_KEYS.some((k) => k.env === 'RINGKV_MAXMEMORY_POLICY'));
  });
});

describe('config: problems', () => {
  it('config: unknown keys are rejected in the file, in RINGKV_ env and in flags, with suggestions', () => {
    const p = problemsOf({
      ...file('respPrt: 1\nrocksdb:\n  compresion: zstd\nport: 6379\n'),
      env: { RINGKV_RESP_PROT: '1' },
      flags: [{ name: 'maxmemory-polcy', value: 'noeviction' }],
    });
    assert.deepEqual(p.map((x) => `${x.source} ${x.where}: ${x.message}`), [
      'file ringkv.yaml: respPrt: unknown key (did you mean respPort?)',
      'file ringkv.yaml: rocksdb.compresion: unknown key (did you mean compression?)',
      'file ringkv.yaml: port: unknown key (did you mean respPort?)',
      'env RINGKV_RESP_PROT: unknown variable (did you mean RINGKV_RESP_PORT?)',
      'flag --maxmemory-polcy: unknown flag (did you mean maxmemory-policy?)',
    ]);
  });

  it('config: every invalid value is reported at once, attributed to the source that set it', () => {
    const p = problemsOf({
      ...file('respPort: abc\nmaxmemory: 12zz\n'),
      env: { RINGKV_HZ: '0', RINGKV_ROCKSDB_COMPRESSION: 'xz' },
      flags: [{ name: 'durability', value: 'sometimes' }, { name: 'http-port', value: '70000' }],
    });
    const lines = p.map((x) => `${x.source} ${x.where}`);
    assert.deepEqual(lines, [
      'file ringkv.yaml: respPort',
      'file ringkv.yaml: maxmemory',
      'env RINGKV_HZ',
      'env RINGKV_ROCKSDB_COMPRESSION',
      // Within a source, validation problems come in schema order.
      'flag --http-port',
      'flag --durability',
    ]);
    assert.match(p[0]?.message ?? '', /not a number: "abc"/);
    assert.match(p[1]?.message ?? '', /not a size/);
    assert.match(p[2]?.message ?? '', /too small \(at least 1\)/);
    assert.match(p[3]?.message ?? '', /"xz" is not one of none, zstd/);
    assert.match(p[4]?.message ?? '', /too big \(at most 65535\)/);
    assert.match(p[5]?.message ?? '', /"sometimes" is not one of none, batch, fsync/);
  });

  it('config: a bad file value overridden by a valid flag is not a problem (validated once, merged)', () => {
    const c = loadConfig({ ...file('respPort: abc\n'), flags: [{ name: 'resp-port', value: '6400' }] });
    assert.equal(c.respPort, 6400);
  });

  it('config: an empty env or flag value is rejected for non-string keys but allowed for strings', () => {
    const p = problemsOf({ env: { RINGKV_RESP_PORT: '' }, flags: [{ name: 'maxmemory', value: ' ' }] });
    assert.deepEqual(p.map((x) => [x.where, x.message]), [['RINGKV_RESP_PORT', 'empty value'], ['--maxmemory', 'empty value']]);
    assert.equal(loadConfig({ env: { RINGKV_REQUIREPASS: '' } }).requirepass, '');
  });

  it('config: a number with trailing garbage is not silently truncated', () => {
    const p = problemsOf({ flags: [{ name: 'resp-port', value: '63a79' }] });
    assert.match(p[0]?.message ?? '', /not a number: "63a79"/);
  });

  it('config: the error message lists every problem on its own line', () => {
    try {
      loadConfig({ env: { RINGKV_HZ: 'x', RINGKV_NOPE: '1' } });
      assert.fail('expected a throw');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      const lines = e.message.split('\n');
      assert.equal(lines[0], 'invalid configuration (2 problems):');
      assert.equal(lines.length, 3);
      assert.ok(lines.some((l) => l.includes('RINGKV_HZ')));
      assert.ok(lines.some((l) => l.includes('RINGKV_NOPE')));
    }
  });
});

describe('config: defaultConfig', () => {
  it('config: defaultConfig applies in-code overrides and rejects bad ones with TypeError', () => {
    const c = defaultConfig({ engine: 'memory', respPort: 0 });
    assert.equal(c.engine, 'memory');
    assert.equal(c.respPort, 0);
    assert.ok(Object.isFrozen(c));
    assert.throws(() => defaultConfig({ nope: 1 }), TypeError);
  });
});
