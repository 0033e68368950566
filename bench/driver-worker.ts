/**
 * One load-driver process: `node --import tsx bench/driver-worker.ts '<DriverSpec JSON>'`.
 * Runs bench/lib/driver.ts and prints one JSON line on stdout: counts, CPU and the latency
 * histogram (HDR compressed base64), which the runner merges across processes. Several processes
 * are used because one Node process saturates its core long before etcd or a cluster does.
 */
import { encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { runDriver, type DriverSpec } from './lib/driver.js';

export interface WorkerOutput {
  ops: number;
  errors: number;
  firstError: string | null;
  elapsedSec: number;
  cpuSec: number;
  backlog: number;
  histogram: string;
  serviceHistogram: string;
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (arg === undefined) throw new Error('usage: driver-worker.ts <spec json>');
  const spec = JSON.parse(arg) as DriverSpec;
  const r = await runDriver(spec);
  const out: WorkerOutput = {
    ops: r.ops, errors: r.errors, firstError: r.firstError ?? null, elapsedSec: r.elapsedSec,
    cpuSec: r.cpuSec, backlog: r.backlog, histogram: encodeIntoCompressedBase64(r.histogram),
    serviceHistogram: encodeIntoCompressedBase64(r.serviceHistogram),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`driver: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
