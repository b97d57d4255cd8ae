/**
 * One paid provider call as a queue job (scale-out.md): the unit of work team mode spreads over
 * workers. Plain data only: the normalized request with its references by hash (never bytes, never
 * a key), the account by name, and the call's place in its run. The job id is the request hash,
 * so adding the same call twice is one job.
 */
import { EngineError, isEngineError, type ErrorCode } from '../core/errors';
import type { ImageAsset } from '../core/ports';
import type { ImageRequest } from '../core/provider';

export interface CallJobData {
  provider: string;
  account: string;
  request: Omit<ImageRequest, 'references'> & { references: { asset: ImageAsset; url?: string }[] };
  call: {
    runId: string;
    nodeId: string;
    nodeType: string;
    nodeVersion: number;
    cacheable: boolean;
    item: number;
    /** The batch row (from 1), recorded with the task. */
    row?: number;
    /** The run's attempt (`queue retry` adds one): a retry's calls are new jobs, read through the ledger. */
    attempt?: number;
  };
  taskTimeoutMs: number;
  /** Reuse other runs' stored results for cacheable requests (a run's --no-cache turns it off). */
  cache: boolean;
  /** The run's ledger options that decide how a recorded task is read (a resumed batch, `--resubmit-ambiguous`). */
  ledger?: { keepFailed?: boolean; resubmitAmbiguous?: boolean };
  /** Who started the run (a name and team, never a token): the claim checks their spending caps. */
  owner?: { person: string; team?: string };
}

/** Progress a call job reports while it runs (its status text), relayed to the run's events. */
export interface CallJobProgress {
  status: string;
}

/** What a finished call job returns: the stored image, described by hash. */
export type CallJobResult = ImageAsset;

/** A run cancelled in the queue: its call jobs not yet started are not sent (fluxgraph queue cancel, Ctrl-C). */
export function cancelKey(runId: string): string {
  return `fluxgraph:cancel:${runId}`;
}

/** BullMQ forbids ":" in queue names; account names cannot contain ".". */
export function callQueueName(provider: string, account: string): string {
  return `calls.${provider}.${account}`;
}

/**
 * Workers announce each account they serve under `fluxgraph:account:<provider>.<account>:<worker>`
 * (value: the cap, never the key), with an expiry they keep renewing: an account whose workers all
 * died drops out of dispatch within ACCOUNT_TTL_MS instead of collecting jobs nobody takes.
 */
export const ACCOUNT_KEY_PREFIX = 'fluxgraph:account:';
export const ACCOUNT_TTL_MS = 10_000;

export function accountKey(provider: string, account: string, worker: string): string {
  return `${ACCOUNT_KEY_PREFIX}${provider}.${account}:${worker}`;
}

/** A job fails with its EngineError as JSON, so the coordinator gets the code back, not a string. */
export function encodeFailure(e: unknown): string {
  if (isEngineError(e)) return JSON.stringify({ fluxgraph: 1, code: e.code, message: e.message, details: e.details });
  return JSON.stringify({ fluxgraph: 1, code: 'internal', message: (e as Error)?.message ?? String(e), details: {} });
}

export function decodeFailure(reason: string | undefined): EngineError | undefined {
  if (!reason) return undefined;
  try {
    const o = JSON.parse(reason) as { fluxgraph?: number; code: ErrorCode; message: string; details: Record<string, unknown> };
    if (o.fluxgraph === 1) return new EngineError(o.code, o.message, o.details);
  } catch {
    // not ours: a BullMQ reason such as a stalled job
  }
  return undefined;
}
