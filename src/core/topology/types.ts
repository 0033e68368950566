/**
 * Topology change vocabulary shared by the core (which runs ring changes) and the front ends
 * that start and watch them (admin commands, HTTP, CLI).
 */
import type { NodeId } from '../types.js';

export type RingChange =
  | { kind: 'join'; id: NodeId; weight?: number; rack?: string; zone?: string }
  /** A live member hands its replicas to the others, then leaves the ring. */
  | { kind: 'decommission'; id: NodeId }
  /** Removes a dead member without streaming from it (its replicas are rebuilt from the others). */
  | { kind: 'remove'; id: NodeId };

export interface TopologyProgress {
  readonly change: RingChange | null;
  /** 'idle' when no change is in flight. */
  readonly phase: 'idle' | 'streaming' | 'committing' | 'done' | 'failed';
  readonly slotsToMove: number;
  readonly slotsMoved: number;
  readonly keysStreamed: number;
  readonly bytesStreamed: number;
  readonly message: string;
}
