/**
 * Seeded pseudo-random numbers, so a fault schedule is the same on every run with the same seed.
 * One stream per purpose keeps, say, the submit faults independent of how often a client polls.
 */
import { createHash } from 'node:crypto';

export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1) (mulberry32). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** True with probability `p`; always draws, so streams stay aligned whatever the config. */
  chance(p: number | undefined): boolean {
    const r = this.next();
    return p !== undefined && p > 0 && r < p;
  }

  /** Integer in [0, max). */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
}

/** Derives an independent stream seed from the run seed and a stream name. */
export function streamSeed(seed: number, name: string): number {
  return createHash('sha256').update(`${seed}:${name}`).digest().readUInt32LE(0);
}
