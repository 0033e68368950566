/**
 * Shared by `ringkv join`, `decommission` and `remove`: POST /v1/admin/<kind>, then follow
 * GET /v1/cluster/topology with a progress bar (slots moved / slots to move) until the change
 * is done, failed, or the wait runs out. Exit 0 when done, 1 otherwise (one line on stderr).
 */
import type { z } from 'zod';
import type { RingkvClient } from '../../client/client.js';
import type { topologySchema } from '../../http/schemas.js';
import { EXIT_FAILURE, EXIT_OK, printJson, ProgressBar, sleep, type CommonOptions, type OpsIo } from './common.js';

export type Topology = z.infer<typeof topologySchema>;

export interface ChangeRun {
  kind: 'join' | 'decommission' | 'remove';
  body: Record<string, unknown>;
  wait: boolean;
  waitMs: number;
  pollMs: number;
}

const finished = (t: Topology): boolean => t.phase === 'done' || t.phase === 'failed' || t.phase === 'idle';

export async function runRingChange(client: RingkvClient, o: CommonOptions, io: OpsIo, run: ChangeRun): Promise<number> {
  let t = await client.call<Topology>('POST', `/v1/admin/${run.kind}`, run.body);
  const bar = new ProgressBar(io, o.json);
  const deadline = Date.now() + run.waitMs;
  const id = String(run.body['id']);
  while (run.wait && !finished(t) && Date.now() < deadline) {
    bar.update(t.slots_moved, t.slots_to_move, `${t.phase}  slots ${t.slots_moved}/${t.slots_to_move}  keys ${t.keys_streamed}`);
    await sleep(run.pollMs);
    t = await client.call<Topology>('GET', '/v1/cluster/topology');
  }
  if (finished(t)) bar.update(1, 1, `${t.phase}  slots ${t.slots_moved}/${t.slots_to_move}  keys ${t.keys_streamed}`);
  bar.done();
  const ok = !run.wait || t.phase === 'done' || t.phase === 'idle';
  if (o.json) printJson(io, { action: run.kind, id, ok, waited: run.wait, topology: t });
  else if (!run.wait) io.stdout(`${run.kind} ${id}: started (${t.phase})\n`);
  else if (ok) io.stdout(`${run.kind} ${id}: done (${t.slots_to_move} slots moved, ${t.keys_streamed} keys streamed)\n`);
  if (!ok) {
    const why = finished(t) ? `${t.phase}${t.message !== '' ? `: ${t.message}` : ''}` : `still ${t.phase} after ${run.waitMs} ms`;
    io.stderr(`ringkv ${run.kind}: ${id} did not complete (${why})\n`);
    return EXIT_FAILURE;
  }
  return EXIT_OK;
}
