/**
 * Harness pieces that turn measurements into text: median/min/max summaries, the README block
 * between markers (only that text changes), newest-result selection per scenario, path scrubbing
 * of committed files, the /metrics heap reader, and the pipelined loader's reply counting.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createCeilingServer } from '../../bench/ceiling-server.js';
import { latestResults, README_END, README_START, renderSummary, replaceBetweenMarkers, scrubPaths } from '../../bench/lib/results.js';
import { loadKeys, loaderKey, readReply } from '../../bench/lib/resp-client.js';
import { fmtSummary, fmtRatio, summarize } from '../../bench/lib/stats.js';
import { heapUsedFromMetrics } from '../../bench/scenarios/memory.js';

test('bench stats: median of odd and even counts, min and max, failed samples left out', () => {
  assert.deepEqual(summarize([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  assert.deepEqual(summarize([4, 1, undefined, 2, 3]), { median: 2.5, min: 1, max: 4, n: 4 });
  assert.equal(summarize([undefined, Number.NaN]), undefined);
  assert.equal(fmtSummary(summarize([0.5, 0.75, 0.6]), fmtRatio), '0.60 [0.50–0.75]');
  assert.equal(fmtSummary(summarize([0.5]), fmtRatio), '0.50');
  assert.equal(fmtSummary(undefined, fmtRatio), 'n/a');
});

test('bench README: only the text between the markers is replaced', () => {
  const before = `# ringkv\n\nintro\n\n## Performance\n\n${README_START}\nold table\n${README_END}\n\n## After\ntext\n`;
  const after = replaceBetweenMarkers(before, 'new table');
  assert.equal(after, `# ringkv\n\nintro\n\n## Performance\n\n${README_START}\nnew table\n${README_END}\n\n## After\ntext\n`);
  assert.equal(replaceBetweenMarkers(after, 'new table'), after);
});

test('bench README: markers are appended in a Performance section when absent', () => {
  assert.equal(replaceBetweenMarkers('# ringkv\ntext\n', 'T'), `# ringkv\ntext\n\n## Performance\n\n${README_START}\nT\n${README_END}\n`);
});

test('bench README: the summary uses the newest result of each scenario, in scenario order', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-results-test-'));
  try {
    const row = (ratio: string) => ({ scenario: 'x', case: 'SET -P 1, -c 50', pair: 'a / b', metric: 'ops/s', numerator: '1', denominator: '2', ratio });
    const stored = (scenario: string, date: string, ratio: string) => JSON.stringify({
      scenario, title: scenario, date, commit: 'abc', machine: 'm', rounds: 3, failures: [], summary: [{ ...row(ratio), scenario }], file: `${date.slice(0, 10)}-${scenario}.md`,
    });
    writeFileSync(join(dir, '2026-01-01-single.json'), stored('single', '2026-01-01T00:00:00.000Z', '0.10'));
    writeFileSync(join(dir, '2026-01-02-single.json'), stored('single', '2026-01-02T00:00:00.000Z', '0.20'));
    writeFileSync(join(dir, '2026-01-01-ceiling.json'), stored('ceiling', '2026-01-01T00:00:00.000Z', '0.30'));
    writeFileSync(join(dir, 'notes.json'), '{"unrelated": true}');
    const latest = latestResults(dir, ['single', 'ceiling']);
    assert.deepEqual(latest.map((r) => [r.scenario, r.summary[0]?.ratio]), [['single', '0.20'], ['ceiling', '0.30']]);
    const md = renderSummary(latest);
    assert.match(md, /\[single\]\(bench\/results\/2026-01-02-single\.md\)/);
    assert.doesNotMatch(md, /0\.10/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench results: absolute checkout and Node paths become relative in committed files', () => {
  const text = `${process.execPath} /srv/checkout/dist/cli/main.js --data-dir /srv/checkout/bench/tmp/x (cwd /srv/checkout)`;
  assert.equal(scrubPaths(text, '/srv/checkout/'), 'node dist/cli/main.js --data-dir bench/tmp/x (cwd .)');
});

test('bench memory: V8 heap used is read from prom-client text with or without a prefix', () => {
  assert.equal(heapUsedFromMetrics('# HELP x\nnodejs_heap_size_total_bytes 9\nnodejs_heap_size_used_bytes 12345\n'), 12345);
  assert.equal(heapUsedFromMetrics('ringkv_nodejs_heap_size_used_bytes{node="a"} 1.5e6\n'), 1_500_000);
  assert.equal(heapUsedFromMetrics('process_resident_memory_bytes 1\n'), undefined);
});

test('bench loader: replies split anywhere are read only when complete', () => {
  assert.equal(readReply(Buffer.from('+O'), 0), undefined);
  assert.deepEqual(readReply(Buffer.from('+OK\r\n'), 0), [{ kind: 'status', text: 'OK' }, 5]);
  assert.equal(readReply(Buffer.from('$5\r\nhel'), 0), undefined);
  assert.deepEqual(readReply(Buffer.from('$5\r\nhello\r\n:7\r\n'), 11), [{ kind: 'integer', value: 7 }, 15]);
  assert.deepEqual(readReply(Buffer.from('$-1\r\n'), 0), [{ kind: 'bulk', text: null }, 5]);
});

test('bench loader: every key gets one SET and one reply, keys are 16 bytes', async () => {
  assert.equal(loaderKey(42), 'key:000000000042');
  assert.equal(Buffer.byteLength(loaderKey(999_999)), 16);
  const server = createCeilingServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    const r = await loadKeys('127.0.0.1', port, { count: 2500, valueBytes: 100, batch: 1000 });
    assert.equal(r.okReplies, 2500);
    assert.equal(r.errorReplies, 0);
  } finally {
    server.close();
  }
});
