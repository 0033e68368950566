/**
 * fast-check generators for versioning tests. Records are generated in a "consistent universe":
 * a sibling's contents are a function of its dot, as they are in a real cluster where each dot
 * names one write. `inconsistent` variants break that on purpose, to show the merge laws do
 * not depend on it.
 */
import fc from 'fast-check';
import { nodeId, type NodeId } from '../../src/core/types.js';
import { type Sibling, type VersionedRecord } from '../../src/core/versioning/dvvset.js';
import { compareDots, vvFrom, type Dot, type VersionVector } from '../../src/core/versioning/version-vector.js';

export const NODES: readonly NodeId[] = ['a', 'b', 'c', 'd'].map(nodeId);

/** The one sibling a dot names in the consistent universe. */
export function siblingForDot(dot: Dot): Sibling {
  const i = NODES.indexOf(dot.node);
  const tomb = (dot.counter + i) % 5 === 0;
  return {
    dot,
    value: tomb ? null : Buffer.from(`${dot.node}${dot.counter}`),
    expiresAtMs: dot.counter % 3 === 0 ? 1000 * dot.counter : 0,
    // Clocks of different nodes interleave; ties on (wallMs, logical) across nodes happen.
    hlc: { wallMs: 100 * dot.counter + 10 * ((i * 7) % 4), logical: dot.counter % 2, node: dot.node },
  };
}

export const arbVv: fc.Arbitrary<VersionVector> = fc
  .tuple(...NODES.map(() => fc.integer({ min: 0, max: 6 })))
  .map((counters) => vvFrom(counters.map((c, i) => [NODES[i] as NodeId, c] as const)));

function recordFrom(vv: VersionVector, picks: readonly boolean[], make: (d: Dot, k: number) => Sibling): VersionedRecord {
  const dots: Dot[] = [];
  for (const e of vv) for (let c = 1; c <= e.counter; c++) dots.push({ node: e.node, counter: c });
  dots.sort(compareDots);
  const siblings: Sibling[] = [];
  dots.forEach((d, k) => {
    if (picks[k % picks.length] === true) siblings.push(make(d, k));
  });
  return { context: vv, siblings };
}

/** A well-formed record whose sibling contents are determined by their dots. */
export const arbRecord: fc.Arbitrary<VersionedRecord> = fc
  .tuple(arbVv, fc.array(fc.boolean(), { minLength: 1, maxLength: 24 }))
  .map(([vv, picks]) => recordFrom(vv, picks, (d) => siblingForDot(d)));

/** Well-formed, but the same dot may carry different contents in different records. */
export const arbInconsistentRecord: fc.Arbitrary<VersionedRecord> = fc
  .tuple(arbVv, fc.array(fc.boolean(), { minLength: 1, maxLength: 24 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }))
  .map(([vv, picks, salts]) =>
    recordFrom(vv, picks, (d, k) => {
      const base = siblingForDot(d);
      const salt = salts[k % salts.length] ?? 0;
      return { ...base, value: salt === 3 ? null : Buffer.from(`${d.node}${d.counter}~${salt}`), hlc: { ...base.hlc, logical: salt } };
    }),
  );

/** A one-sibling record, as LWW mode keeps. */
export const arbLwwRecord: fc.Arbitrary<VersionedRecord> = arbRecord.map((r) => {
  let best: Sibling | undefined;
  for (const s of r.siblings) {
    if (best === undefined || s.hlc.wallMs > best.hlc.wallMs) best = s;
  }
  return { context: r.context, siblings: best === undefined ? [] : [best] };
});
