/**
 * Identifiers shared by the sans-IO core. Branded so a NodeId cannot be passed where a key or
 * a request id is expected. Core code never reads the wall clock, ambient randomness, timers or
 * Node's IO modules: time arrives as ticks and randomness from an injected generator.
 */
export type NodeId = string & { readonly __brand: 'NodeId' };
export type RequestId = number & { readonly __brand: 'RequestId' };
/** A hash slot, 0..16383 (Redis Cluster's). */
export type Slot = number;

export const nodeId = (s: string): NodeId => s as NodeId;
export const requestId = (n: number): RequestId => n as RequestId;

/** Injected randomness: a seeded generator in simulation, crypto-seeded in the real server. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}
