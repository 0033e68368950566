/**
 * The redis-benchmark output parser, on outputs captured from redis-benchmark 7.0.15 (CSV,
 * normal and -q modes, an error run), plus the runner against live servers: the in-process
 * ceiling server and a closed port (redis-benchmark retries that forever; the runner must stop
 * it and report the error).
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { AddressInfo } from 'node:net';
import { createCeilingServer } from '../../bench/ceiling-server.js';
import { parseBashTimes } from '../../bench/lib/process.js';
import {
  benchmarkArgs, detectFormat, parseBenchmarkErrors, parseBenchmarkOutput, parseCsv, parseNormal, parseQuiet, runRedisBenchmark,
} from '../../bench/lib/redis-benchmark.js';
import { freePort } from '../../bench/lib/process.js';

/** redis-benchmark 7.0.15 outputs captured on the development machine (-c 50 -r 100000 -d 100). */
const CSV_GET_SET = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\"SET\",\"64516.13\",\"0.409\",\"0.088\",\"0.391\",\"0.503\",\"0.911\",\"1.863\"\n\"GET\",\"86206.90\",\"0.301\",\"0.064\",\"0.295\",\"0.391\",\"0.447\",\"0.655\"\n";
const NORMAL_SET = " \rSET: rps=0.0 (overall: -nan) avg_msec=-nan (overall: -nan)\r                                                           \rSET: rps=73737.1 (overall: 73737.1) avg_msec=0.367 (overall: 0.367)\r                                                                    \r====== SET ======\n  20000 requests completed in 0.27 seconds\n  50 parallel clients\n  100 bytes payload\n  keep alive: 1\n  host configuration \"save\": \n  host configuration \"appendonly\": no\n  multi-thread: no\n\nLatency by percentile distribution:\n0.000% <= 0.151 milliseconds (cumulative count 1)\n50.000% <= 0.359 milliseconds (cumulative count 10301)\n75.000% <= 0.391 milliseconds (cumulative count 15272)\n87.500% <= 0.423 milliseconds (cumulative count 17800)\n93.750% <= 0.471 milliseconds (cumulative count 18818)\n96.875% <= 0.591 milliseconds (cumulative count 19379)\n98.438% <= 0.791 milliseconds (cumulative count 19693)\n99.219% <= 0.975 milliseconds (cumulative count 19846)\n99.609% <= 1.135 milliseconds (cumulative count 19924)\n99.805% <= 1.223 milliseconds (cumulative count 19963)\n99.902% <= 1.271 milliseconds (cumulative count 19982)\n99.951% <= 1.295 milliseconds (cumulative count 19991)\n99.976% <= 1.327 milliseconds (cumulative count 19997)\n99.988% <= 1.335 milliseconds (cumulative count 19998)\n99.994% <= 1.343 milliseconds (cumulative count 19999)\n99.997% <= 1.359 milliseconds (cumulative count 20000)\n100.000% <= 1.359 milliseconds (cumulative count 20000)\n\nCumulative distribution of latencies:\n0.000% <= 0.103 milliseconds (cumulative count 0)\n0.110% <= 0.207 milliseconds (cumulative count 22)\n14.115% <= 0.303 milliseconds (cumulative count 2823)\n84.310% <= 0.407 milliseconds (cumulative count 16862)\n95.245% <= 0.503 milliseconds (cumulative count 19049)\n97.085% <= 0.607 milliseconds (cumulative count 19417)\n97.940% <= 0.703 milliseconds (cumulative count 19588)\n98.545% <= 0.807 milliseconds (cumulative count 19709)\n99.005% <= 0.903 milliseconds (cumulative count 19801)\n99.300% <= 1.007 milliseconds (cumulative count 19860)\n99.530% <= 1.103 milliseconds (cumulative count 19906)\n99.785% <= 1.207 milliseconds (cumulative count 19957)\n99.960% <= 1.303 milliseconds (cumulative count 19992)\n100.000% <= 1.407 milliseconds (cumulative count 20000)\n\nSummary:\n  throughput summary: 73529.41 requests per second\n  latency summary (msec):\n          avg       min       p50       p95       p99       max\n        0.372     0.144     0.359     0.503     0.903     1.359\n\n";
const QUIET_GET_SET = " \rSET: rps=0.0 (overall: 0.0) avg_msec=-nan (overall: -nan)\r                                                          \rSET: 89686.09 requests per second, p50=0.335 msec\n \rGET: rps=9352.0 (overall: 89923.1) avg_msec=0.329 (overall: 0.329)\r                                                                   \rGET: 89285.71 requests per second, p50=0.295 msec\n\n";
/** --csv -t set against a server at maxclients 10 with -c 50: header only, error on stderr, exit 1. */
const CSV_ERROR_STDOUT = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n";
const CSV_ERROR_STDERR = "Error from server: ERR max number of clients reached\n";
/** Against a closed port: printed, then redis-benchmark retries forever. */
const NO_CONNECT_STDERR = "Could not connect to Redis at 127.0.0.1:1: Connection refused\nWARNING: Could not fetch server CONFIG\n";

test('bench parser: CSV rows give rps and every latency column, found by header name', () => {
  const rows = parseCsv(CSV_GET_SET);
  assert.deepEqual(rows, [
    { test: 'SET', rps: 64516.13, avgMs: 0.409, minMs: 0.088, p50Ms: 0.391, p95Ms: 0.503, p99Ms: 0.911, maxMs: 1.863 },
    { test: 'GET', rps: 86206.9, avgMs: 0.301, minMs: 0.064, p50Ms: 0.295, p95Ms: 0.391, p99Ms: 0.447, maxMs: 0.655 },
  ]);
});

test('bench parser: CSV columns in another order still land in the right fields', () => {
  const text = '"p99_latency_ms","test","rps"\n"2.5","SET","1000.5"\n';
  assert.deepEqual(parseCsv(text), [{ test: 'SET', rps: 1000.5, p99Ms: 2.5 }]);
});

test('bench parser: redis-benchmark 6 style CSV without latency columns gives rps only', () => {
  assert.deepEqual(parseCsv('"test","rps"\n"GET","12345.00"\n'), [{ test: 'GET', rps: 12345 }]);
});

test('bench parser: normal mode reads the Summary block through carriage-return progress lines', () => {
  assert.equal(detectFormat(NORMAL_SET), 'normal');
  assert.deepEqual(parseNormal(NORMAL_SET), [
    { test: 'SET', rps: 73529.41, avgMs: 0.372, minMs: 0.144, p50Ms: 0.359, p95Ms: 0.503, p99Ms: 0.903, maxMs: 1.359 },
  ]);
});

test('bench parser: -q mode gives rps and p50 for each test, ignoring progress text', () => {
  assert.equal(detectFormat(QUIET_GET_SET), 'quiet');
  assert.deepEqual(parseQuiet(QUIET_GET_SET), [
    { test: 'SET', rps: 89686.09, p50Ms: 0.335 },
    { test: 'GET', rps: 89285.71, p50Ms: 0.295 },
  ]);
});

test('bench parser: format detection dispatches CSV and reports unknown text as no rows', () => {
  assert.equal(parseBenchmarkOutput(CSV_GET_SET).format, 'csv');
  assert.equal(parseBenchmarkOutput(CSV_GET_SET).rows.length, 2);
  assert.deepEqual(parseBenchmarkOutput('segmentation fault\n'), { format: 'unknown', rows: [] });
});

test('bench parser: an error run has a header and no rows, and its stderr line is reported', () => {
  assert.deepEqual(parseCsv(CSV_ERROR_STDOUT), []);
  assert.deepEqual(parseBenchmarkErrors(CSV_ERROR_STDERR), ['Error from server: ERR max number of clients reached']);
  assert.deepEqual(parseBenchmarkErrors(NO_CONNECT_STDERR), ['Could not connect to Redis at 127.0.0.1:1: Connection refused']);
  assert.deepEqual(parseBenchmarkErrors('WARNING: Could not fetch server CONFIG\n'), []);
});

test('bench process: bash times output gives the children\'s user+sys seconds', () => {
  assert.equal(parseBashTimes('0m0.003s 0m0.001s\n0m1.250s 0m0.500s\n'), 1.75);
  assert.equal(parseBashTimes('1m0.000s 0m0.000s\n2m1.000s 0m0.500s\n'), 121.5);
  assert.equal(parseBashTimes(''), undefined);
});

test('bench runner: the arguments carry the load exactly, one test per run, CSV output', () => {
  assert.deepEqual(
    benchmarkArgs('127.0.0.1', 7000, { clients: 50, requests: 200000, keyspace: 100000, valueBytes: 100, pipeline: 16, test: 'get' }),
    ['-h', '127.0.0.1', '-p', '7000', '-c', '50', '-n', '200000', '-r', '100000', '-d', '100', '-P', '16', '-t', 'get', '--csv'],
  );
});

test('bench runner: a run against the ceiling server parses, with client CPU measured', async () => {
  const server = createCeilingServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    const run = await runRedisBenchmark('127.0.0.1', port, { clients: 5, requests: 2000, keyspace: 1000, valueBytes: 100, pipeline: 4, test: 'set' }, 20_000);
    assert.deepEqual(run.errors, []);
    assert.equal(run.row?.test, 'SET');
    assert.ok((run.row?.rps ?? 0) > 0);
    assert.ok(run.row?.p99Ms !== undefined);
    assert.ok(run.client.cpuSec !== undefined && run.client.cpuSec >= 0);
  } finally {
    server.close();
  }
});

test('bench runner: a closed port is reported as an error within seconds, not retried forever', async () => {
  const port = await freePort();
  const started = Date.now();
  const run = await runRedisBenchmark('127.0.0.1', port, { clients: 2, requests: 100, keyspace: 10, valueBytes: 10, pipeline: 1, test: 'set' }, 20_000);
  assert.ok(Date.now() - started < 10_000);
  assert.equal(run.row, undefined);
  assert.match(run.errors.join('\n'), /Could not connect/);
});
