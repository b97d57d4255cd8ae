/**
 * The one error class of fluxgraph. `code` is machine-readable and closed; `message` is for
 * humans and names the node, port, param or provider it is about.
 */
export type ErrorCode =
  // pipeline document and validation
  | 'invalid_json'
  | 'invalid_document'
  | 'unknown_node_type'
  | 'invalid_param'
  | 'missing_input'
  | 'incompatible_edge'
  | 'unknown_node'
  | 'unknown_port'
  | 'too_many_edges'
  | 'duplicate_id'
  | 'cycle'
  | 'unknown_provider'
  | 'unsupported_model'
  | 'unsupported_param'
  | 'size_adjusted'
  | 'unfilled_placeholder'
  | 'duplicate_edge'
  | 'unsafe_name'
  | 'file_name_clash'
  | 'unused_variable'
  | 'concurrency_above_limit'
  | 'missing_key'
  | 'unwritable_folder'
  | 'over_balance'
  // inputs and outputs at run time
  | 'invalid_input'
  | 'io'
  | 'usage'
  // provider outcomes (design.md 1.5: typed failures per item)
  | 'moderated'
  | 'rate_limited'
  | 'timeout'
  | 'insufficient_credits'
  | 'auth'
  | 'provider_rejected'
  | 'provider_failed'
  | 'network'
  | 'ambiguous_submit'
  | 'result_expired'
  | 'task_not_found'
  | 'needs_public_url'
  // run control
  | 'aborted'
  | 'skipped'
  | 'budget_exceeded'
  | 'internal';

export interface ErrorDetails {
  nodeId?: string;
  nodeType?: string;
  port?: string;
  param?: string;
  item?: number;
  provider?: string;
  model?: string;
  taskId?: string;
  httpStatus?: number;
  /** True when the same request may be tried again without paying twice. */
  retryable?: boolean;
  /** The task may still finish at the provider: a later run can wait on it again instead of resubmitting. */
  resumable?: boolean;
  /** Where a provider call failed. */
  phase?: 'submit' | 'poll' | 'download';
  /** Seconds the provider asked us to wait (Retry-After). */
  retryAfterSec?: number;
  line?: number;
  column?: number;
  [key: string]: unknown;
}

export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Plain data, safe to print, log or send to the browser. */
  toJSON(): { code: ErrorCode; message: string; details: ErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isEngineError(e: unknown): e is EngineError {
  return e instanceof EngineError;
}

/** Wraps a foreign error once, at a boundary; engine errors pass through unchanged. */
export function toEngineError(e: unknown, fallback: ErrorCode = 'internal', details: ErrorDetails = {}): EngineError {
  if (e instanceof EngineError) return e;
  if (isAbortError(e)) return new EngineError('aborted', 'the run was cancelled', details, { cause: e });
  const message = e instanceof Error ? e.message : String(e);
  return new EngineError(fallback, message, details, { cause: e });
}

export function isAbortError(e: unknown): boolean {
  return (
    (e instanceof Error && (e.name === 'AbortError' || (e as { code?: string }).code === 'ABORT_ERR')) ||
    (e instanceof EngineError && e.code === 'aborted')
  );
}

/** `node "drafts" (flux-flex-generate)`: the prefix every node-level message starts with. */
export function nodeLabel(nodeId: string, nodeType?: string): string {
  return nodeType ? `node "${nodeId}" (${nodeType})` : `node "${nodeId}"`;
}
