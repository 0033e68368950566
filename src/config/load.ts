/**
 * Loads the one configuration: defaults < config file < RINGKV_* environment < command-line
 * flags. Every source is checked for unknown keys, the merged input is validated once against
 * the schema, and EVERY problem is reported together, each naming where it came from (file,
 * env or flag). The result is deeply frozen.
 *
 * Names, derived from the schema so a new schema field needs no change here:
 * - file (YAML or JSON): schema names in camelCase (`maxmemoryPolicy`, `rocksdb: {compression}`);
 *   Redis-style kebab-case (`maxmemory-policy`, `proto-max-bulk-len`) is accepted as well.
 * - env: `RINGKV_` + upper snake case, nested groups joined by `_`
 *   (`RINGKV_RESP_PORT`, `RINGKV_ROCKSDB_COMPRESSION`); `RINGKV_CONFIG` names the config file.
 * - flags: kebab case, nested groups joined by `-` (`--resp-port`, `--rocksdb-compression`).
 *
 * Invariant: a value reaching the schema from env or flags is a non-empty string unless the
 * field is a plain string (requirepass may be empty), so `RINGKV_RESP_PORT=` is an error rather
 * than a silent port 0.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { RingkvError } from '../errors/index.js';
import { configSchema, type Config } from './schema.js';

export type ConfigSource = 'file' | 'env' | 'flag';

export interface ConfigProblem {
  source: ConfigSource;
  /** `config.yaml: respPort`, `RINGKV_RESP_PORT`, `--resp-port`. */
  where: string;
  message: string;
}

/** Thrown by loadConfig; `problems` lists every problem found, in source order. */
export class ConfigError extends RingkvError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    const n = problems.length;
    const lines = problems.map((p) => `  ${p.source} ${p.where}: ${p.message}`);
    super('ERR_CONFIG', `invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n${lines.join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export type ConfigKeyKind = 'string' | 'number' | 'size' | 'enum' | 'boolean' | 'array' | 'other';

/** One settable leaf of the schema, with its names in every source. */
export interface ConfigKey {
  /** ['rocksdb', 'compression'] */
  readonly path: readonly string[];
  /** 'rocksdb.compression' */
  readonly name: string;
  /** 'RINGKV_ROCKSDB_COMPRESSION' */
  readonly env: string;
  /** 'rocksdb-compression' (without the leading dashes) */
  readonly flag: string;
  readonly kind: ConfigKeyKind;
  /** Allowed values for enums. */
  readonly choices?: readonly string[];
}

export const ENV_PREFIX = 'RINGKV_';
/** The env variable naming a config file; not a schema key. */
export const CONFIG_PATH_ENV = 'RINGKV_CONFIG';

interface ZodDefLike {
  type: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  in?: z.ZodType;
  entries?: Record<string, string>;
}

function defOf(t: z.ZodType): ZodDefLike {
  return (t as unknown as { _zod: { def: ZodDefLike } })._zod.def;
}

/** Strips default/prefault/optional/nullable wrappers. */
function unwrap(t: z.ZodType): z.ZodType {
  let cur = t;
  for (;;) {
    const d = defOf(cur);
    if ((d.type === 'default' || d.type === 'prefault' || d.type === 'optional' || d.type === 'nullable') && d.innerType) {
      cur = d.innerType;
    } else {
      return cur;
    }
  }
}

function kindOf(t: z.ZodType): { kind: ConfigKeyKind; choices?: string[] } {
  const d = defOf(t);
  switch (d.type) {
    case 'string': return { kind: 'string' };
    case 'number': return { kind: 'number' };
    case 'boolean': return { kind: 'boolean' };
    case 'array': return { kind: 'array' };
    case 'enum': return { kind: 'enum', choices: Object.values(d.entries ?? {}) };
    // Sizes are `union(number, string).transform(...)`, i.e. a pipe.
    case 'pipe': return { kind: 'size' };
    default: return { kind: 'other' };
  }
}

const camelToSnakeUpper = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
const camelToKebab = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
const kebabToCamel = (s: string): string => s.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

function isGroup(t: z.ZodType): boolean {
  return defOf(unwrap(t)).type === 'object';
}

function shapeOf(t: z.ZodType): Record<string, z.ZodType> {
  return defOf(unwrap(t)).shape ?? {};
}

function collectKeys(shape: Record<string, z.ZodType>, prefix: readonly string[], out: ConfigKey[]): ConfigKey[] {
  for (const [field, t] of Object.entries(shape)) {
    const path = [...prefix, field];
    if (isGroup(t)) {
      collectKeys(shapeOf(t), path, out);
      continue;
    }
    const { kind, choices } = kindOf(unwrap(t));
    out.push({
      path,
      name: path.join('.'),
      env: ENV_PREFIX + path.map(camelToSnakeUpper).join('_'),
      flag: path.map(camelToKebab).join('-'),
      kind,
      ...(choices ? { choices } : {}),
    });
  }
  return out;
}

/** Every settable key of the schema, in schema order. */
export const CONFIG_KEYS: readonly ConfigKey[] = Object.freeze(collectKeys(shapeOf(configSchema), [], []));

const KEY_BY_ENV = new Map(CONFIG_KEYS.map((k) => [k.env, k]));
const KEY_BY_FLAG = new Map(CONFIG_KEYS.map((k) => [k.flag, k]));

/** Redis names that differ from ours: offered as hints, never silently accepted. */
const REDIS_HINTS: Record<string, string> = {
  port: 'respPort', bind: 'host', dir: 'dataDir', loglevel: 'logLevel', 'proto-max-bulk-len': 'protoMaxBulkLen',
};

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_v, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + cost);
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

function suggest(input: string, candidates: Iterable<string>): string {
  const hint = REDIS_HINTS[input.toLowerCase()];
  if (hint !== undefined) return ` (did you mean ${hint}?)`;
  const lower = input.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestD) { bestD = d; best = c; }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(input.length / 4)) ? ` (did you mean ${best}?)` : '';
}

/** Turns an env/flag string into the value the schema expects, or a problem message. */
function coerceString(key: ConfigKey, raw: string): { value: unknown } | { problem: string } {
  if (raw.trim() === '' && key.kind !== 'string') return { problem: 'empty value' };
  switch (key.kind) {
    case 'boolean': {
      const v = raw.trim().toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(v)) return { value: true };
      if (['false', 'no', '0', 'off'].includes(v)) return { value: false };
      return { problem: `not a boolean: ${JSON.stringify(raw)} (use true or false)` };
    }
    case 'array':
      return { value: raw.split(',').map((s) => s.trim()).filter((s) => s !== '') };
    case 'number': {
      // z.coerce.number would turn "12abc" into NaN and " " into 0; reject both clearly here.
      const n = Number(raw.trim());
      if (!Number.isFinite(n)) return { problem: `not a number: ${JSON.stringify(raw)}` };
      return { value: n };
    }
    case 'string':
    case 'size':
    case 'enum':
    case 'other':
      return { value: raw };
  }
}

type Raw = Record<string, unknown>;

function setPath(target: Raw, path: readonly string[], value: unknown): void {
  let cur = target;
  for (let i = 0; i < path.length - 1; i++) {
    const seg = path[i] as string;
    const next = cur[seg];
    if (typeof next === 'object' && next !== null && !Array.isArray(next)) {
      cur = next as Raw;
    } else {
      const fresh: Raw = {};
      cur[seg] = fresh;
      cur = fresh;
    }
  }
  cur[path[path.length - 1] as string] = value;
}

function isPlainObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses config file text: JSON for *.json, YAML otherwise (YAML is a superset of JSON). */
export function parseConfigText(text: string, fileName: string): unknown {
  if (extname(fileName).toLowerCase() === '.json') return JSON.parse(text);
  return parseYaml(text);
}

/**
 * Walks the file's mapping against the schema shape: normalizes kebab-case names, records
 * unknown and duplicate keys, and copies known leaves into `raw` with their origin.
 */
function readFileLayer(
  obj: Raw, shape: Record<string, z.ZodType>, prefix: readonly string[], fileName: string,
  raw: Raw, origin: Map<string, string>, problems: ConfigProblem[],
): void {
  const seen = new Map<string, string>();
  for (const [givenKey, value] of Object.entries(obj)) {
    const field = givenKey.includes('-') ? kebabToCamel(givenKey) : givenKey;
    const shown = [...prefix, givenKey].join('.');
    const t = shape[field];
    if (t === undefined) {
      problems.push({ source: 'file', where: `${fileName}: ${shown}`, message: `unknown key${suggest(givenKey, Object.keys(shape))}` });
      continue;
    }
    const earlier = seen.get(field);
    if (earlier !== undefined) {
      problems.push({ source: 'file', where: `${fileName}: ${shown}`, message: `duplicate of ${[...prefix, earlier].join('.')}` });
      continue;
    }
    seen.set(field, givenKey);
    const path = [...prefix, field];
    if (isGroup(t)) {
      if (!isPlainObject(value)) {
        problems.push({ source: 'file', where: `${fileName}: ${shown}`, message: 'expected a mapping of settings' });
        continue;
      }
      readFileLayer(value, shapeOf(t), path, fileName, raw, origin, problems);
      continue;
    }
    setPath(raw, path, value);
    origin.set(path.join('.'), `file|${fileName}: ${shown}`);
  }
}

export interface FlagValue {
  /** Long name without dashes: 'resp-port'. */
  name: string;
  value: string;
}

export interface LoadConfigOptions {
  /** Config file path; when absent, `RINGKV_CONFIG` from `env` is used if set. */
  configPath?: string | undefined;
  /** Environment to read RINGKV_* from (default: none, so tests are hermetic). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Command-line flags in order; a later flag overrides an earlier one. */
  flags?: readonly FlagValue[];
  /** Reads the config file (injected for tests). */
  readFile?: (path: string) => string;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v as object)) deepFreeze(child);
  }
  return v;
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code === 'invalid_type' && issue.expected === 'number') {
    return `not a number: ${JSON.stringify(input)}`;
  }
  if (issue.code === 'invalid_value' && 'values' in issue) {
    return `${JSON.stringify(input)} is not one of ${issue.values.map((v) => String(v)).join(', ')}`;
  }
  if (issue.code === 'too_big') return `${JSON.stringify(input)} is too big (at most ${String(issue.maximum)})`;
  if (issue.code === 'too_small') return `${JSON.stringify(input)} is too small (at least ${String(issue.minimum)})`;
  return input === undefined ? issue.message : `${issue.message} (got ${JSON.stringify(input)})`;
}

function valueAt(obj: unknown, path: readonly PropertyKey[]): unknown {
  let cur = obj;
  for (const seg of path) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[String(seg)];
  }
  return cur;
}

/** Builds the configuration from all sources; throws ConfigError listing every problem. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? {};
  const problems: ConfigProblem[] = [];
  const raw: Raw = {};
  /** dotted schema path -> "source|where" of the value that won. */
  const origin = new Map<string, string>();

  // 1. File.
  const configPath = options.configPath ?? env[CONFIG_PATH_ENV];
  if (configPath !== undefined && configPath !== '') {
    const read = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
    let parsed: unknown;
    let ok = true;
    try {
      parsed = parseConfigText(read(configPath), configPath);
    } catch (e) {
      ok = false;
      const code = (e as { code?: unknown }).code;
      const msg = code === 'ENOENT' ? 'file not found'
        : code === 'EACCES' ? 'permission denied'
        : code === 'EISDIR' ? 'is a directory'
        : `cannot parse: ${(e instanceof Error ? e.message : String(e)).split('\n')[0] ?? ''}`;
      problems.push({ source: 'file', where: configPath, message: msg });
    }
    if (ok) {
      if (parsed === null || parsed === undefined) {
        // An empty file sets nothing.
      } else if (!isPlainObject(parsed)) {
        problems.push({ source: 'file', where: configPath, message: 'expected a mapping of settings at the top level' });
      } else {
        readFileLayer(parsed, shapeOf(configSchema), [], configPath, raw, origin, problems);
      }
    }
  }

  // 2. Environment (sorted so problems come out in a stable order).
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(ENV_PREFIX) || name === CONFIG_PATH_ENV) continue;
    const value = env[name];
    if (value === undefined) continue;
    const key = KEY_BY_ENV.get(name);
    if (key === undefined) {
      problems.push({ source: 'env', where: name, message: `unknown variable${suggest(name, KEY_BY_ENV.keys())}` });
      continue;
    }
    const c = coerceString(key, value);
    if ('problem' in c) {
      problems.push({ source: 'env', where: name, message: c.problem });
      continue;
    }
    setPath(raw, key.path, c.value);
    origin.set(key.name, `env|${name}`);
  }

  // 3. Flags.
  for (const f of options.flags ?? []) {
    const key = KEY_BY_FLAG.get(f.name);
    if (key === undefined) {
      problems.push({ source: 'flag', where: `--${f.name}`, message: `unknown flag${suggest(f.name, KEY_BY_FLAG.keys())}` });
      continue;
    }
    const c = coerceString(key, f.value);
    if ('problem' in c) {
      problems.push({ source: 'flag', where: `--${f.name}`, message: c.problem });
      continue;
    }
    setPath(raw, key.path, c.value);
    origin.set(key.name, `flag|--${f.name}`);
  }

  // 4. Validate the merged input once.
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const segs = issue.path.map(String);
      const dotted = segs.join('.');
      // The value that won at this path or, for an issue on a group, at its nearest parent.
      let from: string | undefined;
      for (let i = segs.length; i > 0 && from === undefined; i--) from = origin.get(segs.slice(0, i).join('.'));
      const input = valueAt(raw, issue.path);
      if (from !== undefined) {
        const bar = from.indexOf('|');
        problems.push({ source: from.slice(0, bar) as ConfigSource, where: from.slice(bar + 1), message: describeIssue(issue, input) });
      } else {
        // Only reachable if a default itself is invalid or a group was set wholesale.
        problems.push({ source: 'file', where: dotted || '(root)', message: describeIssue(issue, input) });
      }
    }
  }

  if (problems.length > 0) {
    const rank: Record<ConfigSource, number> = { file: 0, env: 1, flag: 2 };
    // Stable sort: by source, then in the order found.
    throw new ConfigError(problems.map((p, i) => ({ p, i })).sort((a, b) => rank[a.p.source] - rank[b.p.source] || a.i - b.i).map((x) => x.p));
  }
  if (!result.success) throw new ConfigError([{ source: 'file', where: '(root)', message: 'invalid configuration' }]);
  return deepFreeze(result.data);
}

/**
 * Defaults plus in-code overrides (tests, library users), validated and frozen. Bad overrides
 * are a programmer error, hence TypeError rather than ConfigError.
 */
export function defaultConfig(overrides: Readonly<Record<string, unknown>> = {}): Config {
  const r = configSchema.safeParse(overrides);
  if (!r.success) {
    throw new TypeError(`invalid config overrides: ${r.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ')}`);
  }
  return deepFreeze(r.data);
}
