/**
 * Fault injection. Faults are drawn per phase (submit, poll, download) because a failed submit is
 * ambiguous for a client (was the task created?) while a failed poll is not.
 */
import { Prng, streamSeed } from './prng';
import type { ProviderName } from './types';

/** Faults for one HTTP phase. Probabilities are 0..1 and drawn from a seeded PRNG. */
export interface PhaseFaults {
  /** Probability of HTTP 429 (or the provider's rate-limit code) with a Retry-After header. */
  rate429?: number;
  /** Seconds announced in Retry-After on injected 429s (default 1). */
  retryAfterSec?: number;
  /** Probability of a server error. */
  error5xx?: number;
  /** Status of injected server errors (default 500; 502 answers with a gateway HTML page). */
  status5xx?: number;
  /** Probability the connection is destroyed without any response. */
  drop?: number;
  /** Extra delay before answering, in ms (slow responses). */
  delayMs?: number;
}

/** Submit faults: `drop` loses the request before a task exists, `dropAfterAccept` after. */
export interface SubmitFaults extends PhaseFaults {
  /** Probability the task is created (and charged) and then the response is lost. */
  dropAfterAccept?: number;
  /** Probability the submit is refused for insufficient credits (402 / balance error). */
  insufficientCredits?: number;
}

/** Status-request faults, on top of the phase faults. */
export interface PollFaults extends PhaseFaults {
  /**
   * The first this many status requests of every task are answered "not found" in the provider's
   * own shape, as a replica that has not seen the new task yet would (BFL documents this for
   * webhook submits). The task itself is unaffected.
   */
  notFoundPolls?: number;
}

/** Faults of result-image downloads, on top of the phase faults. */
export interface DownloadFaults extends PhaseFaults {
  /** Probability a result URL answers as expired although its TTL has not passed. */
  expired?: number;
  /** Probability the image body is cut off halfway (the headers announce the full length). */
  truncate?: number;
  /**
   * Deterministic: each result URL answers its first N downloads with `failStatus` (default 503)
   * and a Retry-After of `retryAfterSec` (default 1), then serves the image.
   */
  failFirst?: number;
  failStatus?: number;
}

/**
 * How a task ends. Probabilities; prompts containing `[moderate-request]`, `[moderate-content]`,
 * `[fail]` or `[stuck]` force the outcome whatever the probabilities.
 */
export interface OutcomeFaults {
  moderateRequest?: number;
  moderateContent?: number;
  fail?: number;
  /** Never leaves the first pending state. */
  stuck?: number;
}

/** Faults of completion callbacks (webhooks). */
export interface CallbackFaults {
  /** Probability the completion callback is never sent. */
  missing?: number;
  /** Probability it is sent twice. */
  duplicate?: number;
  /** Probability the signature (BFL, kie) is wrong. */
  badSignature?: number;
}

/** Everything that can go wrong, settable at start and at runtime (`setFaults` replaces it). */
export interface FaultConfig {
  submit?: SubmitFaults;
  poll?: PollFaults;
  download?: DownloadFaults;
  outcome?: OutcomeFaults;
  callback?: CallbackFaults;
  /** Overrides the options' active-task cap while set. */
  activeTaskCap?: number;
  /** Providers the faults apply to (default: all four). */
  providers?: ProviderName[];
}

/** The request phases faults are drawn for separately. */
export type Phase = 'submit' | 'poll' | 'download';

/** What to do with one request before the protocol handler sees it. */
export type GateDecision =
  | { kind: 'pass' }
  | { kind: 'drop' }
  | { kind: 'error5xx'; status: number }
  | { kind: 'rate429'; retryAfterSec: number };

/** How a task ends, decided when it is created. */
export type Outcome = 'ready' | 'request_moderated' | 'content_moderated' | 'failed' | 'stuck';

export const PROMPT_TRIGGERS: Record<string, Outcome> = {
  '[moderate-request]': 'request_moderated',
  '[moderate-content]': 'content_moderated',
  '[fail]': 'failed',
  '[stuck]': 'stuck',
};

/** Holds the fault config and draws every fault from its own seeded stream. */
export class FaultEngine {
  private config: FaultConfig = {};
  private streams = new Map<string, Prng>();

  constructor(
    private readonly seed: number,
    config: FaultConfig = {},
  ) {
    this.set(config);
  }

  set(config: FaultConfig): void {
    this.config = structuredClone(config);
  }

  get(): FaultConfig {
    return structuredClone(this.config);
  }

  /** Restarts every PRNG stream, so a reset emulator replays the same fault schedule. */
  reseed(): void {
    this.streams.clear();
    this.attempts.clear();
  }

  private attempts = new Map<string, number>();

  /** The `failFirst` download fault for this result URL: the Retry-After to answer with, or undefined to serve it. */
  failingDownload(provider: ProviderName, path: string): { status: number; retryAfterSec: number } | undefined {
    const f = this.phaseFaults('download', provider);
    if (!f.failFirst) return undefined;
    const n = (this.attempts.get(path) ?? 0) + 1;
    this.attempts.set(path, n);
    return n <= f.failFirst ? { status: f.failStatus ?? 503, retryAfterSec: f.retryAfterSec ?? 1 } : undefined;
  }

  private stream(name: string): Prng {
    let s = this.streams.get(name);
    if (!s) {
      s = new Prng(streamSeed(this.seed, name));
      this.streams.set(name, s);
    }
    return s;
  }

  private applies(provider: ProviderName): boolean {
    return !this.config.providers || this.config.providers.includes(provider);
  }

  phaseFaults(phase: Phase, provider: ProviderName): PhaseFaults & SubmitFaults & DownloadFaults & PollFaults {
    if (!this.applies(provider)) return {};
    return { ...(this.config[phase] ?? {}) };
  }

  delayMs(phase: Phase, provider: ProviderName): number {
    return Math.max(0, this.phaseFaults(phase, provider).delayMs ?? 0);
  }

  gate(phase: Phase, provider: ProviderName): GateDecision {
    const f = this.phaseFaults(phase, provider);
    const prng = this.stream(`gate:${phase}`);
    const drop = prng.chance(f.drop);
    const err = prng.chance(f.error5xx);
    const limited = prng.chance(f.rate429);
    if (drop) return { kind: 'drop' };
    if (err) return { kind: 'error5xx', status: f.status5xx ?? 500 };
    if (limited) return { kind: 'rate429', retryAfterSec: f.retryAfterSec ?? 1 };
    return { kind: 'pass' };
  }

  /** How many first status requests of each task answer "not found". */
  notFoundPolls(provider: ProviderName): number {
    if (!this.applies(provider)) return 0;
    return Math.max(0, Math.floor(this.config.poll?.notFoundPolls ?? 0));
  }

  /** Draws a submit-only fault: insufficient credits, or losing the response after accepting. */
  submitExtra(provider: ProviderName): { insufficientCredits: boolean; dropAfterAccept: boolean } {
    const f = this.phaseFaults('submit', provider);
    const prng = this.stream('submit:extra');
    const insufficientCredits = prng.chance(f.insufficientCredits);
    const dropAfterAccept = prng.chance(f.dropAfterAccept);
    return { insufficientCredits, dropAfterAccept };
  }

  downloadExtra(provider: ProviderName): { expired: boolean; truncate: boolean } {
    const f = this.phaseFaults('download', provider);
    const prng = this.stream('download:extra');
    const expired = prng.chance(f.expired);
    const truncate = prng.chance(f.truncate);
    return { expired, truncate };
  }

  outcome(provider: ProviderName, prompt: string): Outcome {
    const f = this.applies(provider) ? (this.config.outcome ?? {}) : {};
    const prng = this.stream('outcome');
    const draws: [Outcome, boolean][] = [
      ['request_moderated', prng.chance(f.moderateRequest)],
      ['content_moderated', prng.chance(f.moderateContent)],
      ['failed', prng.chance(f.fail)],
      ['stuck', prng.chance(f.stuck)],
    ];
    for (const [tag, outcome] of Object.entries(PROMPT_TRIGGERS)) {
      if (prompt.includes(tag)) return outcome;
    }
    return draws.find(([, hit]) => hit)?.[0] ?? 'ready';
  }

  callback(provider: ProviderName): { missing: boolean; duplicate: boolean; badSignature: boolean } {
    const f = this.applies(provider) ? (this.config.callback ?? {}) : {};
    const prng = this.stream('callback');
    return { missing: prng.chance(f.missing), duplicate: prng.chance(f.duplicate), badSignature: prng.chance(f.badSignature) };
  }

  activeTaskCap(fallback: number): number {
    return this.config.activeTaskCap ?? fallback;
  }

  /** Random seeds for requests that did not give one: reproducible too. */
  randomSeed(): number {
    return this.stream('seeds').int(2 ** 31 - 1);
  }
}
