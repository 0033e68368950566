/**
 * The per-key turn queue that serialises local read-modify-write: tasks of one key run one at a
 * time in arrival order, different keys do not wait for each other, and the waiting bound holds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyQueue, type Release } from '../../src/core/node/key-queue.js';

test('key queue: tasks of one key run one at a time in arrival order; other keys run at once', () => {
  const q = new KeyQueue(10);
  const log: string[] = [];
  const releases = new Map<string, Release>();
  const task = (name: string) => (release: Release) => {
    log.push(name);
    releases.set(name, release);
  };
  assert.ok(q.enqueue('k', task('k1')));
  assert.ok(q.enqueue('k', task('k2')));
  assert.ok(q.enqueue('j', task('j1')));
  assert.ok(q.enqueue('k', task('k3')));
  assert.deepEqual(log, ['k1', 'j1']);
  assert.equal(q.waitingCount, 2);
  releases.get('k1')?.();
  assert.deepEqual(log, ['k1', 'j1', 'k2']);
  releases.get('k2')?.();
  releases.get('k3')?.();
  releases.get('j1')?.();
  assert.equal(q.activeKeys, 0);
  assert.equal(q.waitingCount, 0);
  q.invariants();
});

test('key queue: a task that releases synchronously lets the next one run in the same call', () => {
  const q = new KeyQueue(10);
  const log: number[] = [];
  let held: Release | undefined;
  q.enqueue('k', (r) => { held = r; });
  for (let i = 0; i < 5; i++) q.enqueue('k', (r) => { log.push(i); r(); });
  held?.();
  assert.deepEqual(log, [0, 1, 2, 3, 4]);
  assert.equal(q.activeKeys, 0);
});

test('key queue: refuses to queue beyond waitingMax and a double release throws', () => {
  const q = new KeyQueue(2);
  let first: Release | undefined;
  assert.ok(q.enqueue('k', (r) => { first = r; }));
  assert.ok(q.enqueue('k', () => {}));
  assert.ok(q.enqueue('k', () => {}));
  assert.equal(q.enqueue('k', () => {}), false, 'third waiter refused');
  assert.ok(q.enqueue('other', () => {}), 'a free key still runs: only waiting counts');
  first?.();
  assert.throws(() => first?.(), /released twice/);
  q.invariants();
});
