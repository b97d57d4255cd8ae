/**
 * A whole run as a queue job (the "runs" queue, job id = run id): what a worker's coordinator
 * needs to run it, or to continue it with resume semantics when the worker that had it died.
 * Plain data only, never a key: the document, its variables and options, who started it.
 */
import type { Pipeline } from '../core/pipeline-schema';
import type { StoredRunOptions } from '../store/ledger';

export const RUNS_QUEUE = 'runs';

export interface RunOwner {
  person: string;
  team?: string;
}

export interface RunJobData {
  runId: string;
  /** 0 for the first attempt; `queue retry` adds one (its calls are new jobs, read through the ledger). */
  attempt: number;
  /** Who started the run (a person's name and team, never a token): caps and `queue list` use it. */
  owner?: RunOwner;
  pipeline: Pipeline;
  pipelinePath?: string;
  /** What the ledger keeps to run it again (variables, provider, caps, folders, only, rows). */
  options: StoredRunOptions;
  /** `--priority`: higher runs first (-1000 to 1000, default 0). */
  priority: number;
  noCache?: boolean;
  budgetUsd?: number;
  taskTimeoutMs?: number;
  allowPrivateUrls?: boolean;
  /** The earlier run whose seeds a run of part of the pipeline (`--only`) reuses. */
  seedsFrom?: string;
  resubmitAmbiguous?: boolean;
  retryFailed?: boolean;
  enqueuedAt: number;
}

/** What a finished run job returns. */
export interface RunJobResult {
  status: string;
}

export const MIN_PRIORITY = -1000;
export const MAX_PRIORITY = 1000;

/** BullMQ runs the lowest priority number first (1 is the highest); ours runs the highest first. */
export function bullPriority(priority: number): number {
  return MAX_PRIORITY + 1 - Math.max(MIN_PRIORITY, Math.min(MAX_PRIORITY, Math.round(priority)));
}
