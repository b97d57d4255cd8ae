/**
 * Run events: plain JSON data, printed by the CLI as NDJSON and streamed to the editor over SSE
 * unchanged. Never carry keys or image bytes.
 */
import type { DeliveredReference } from './references';
import type { ErrorCode } from './errors';
import type { FinishedRunStatus } from './money';
import type { ImageAsset } from './ports';

/** One output item as events carry it: text, or an image by hash. */
export type ItemValue = { kind: 'text'; text: string } | { kind: 'image'; image: ImageAsset };

/** The batch row an event is about (numbered from 1) and its fields. */
export interface EventRow {
  n: number;
  fields: Record<string, string>;
  /** On itemDone: the item's index within its row (which draft of this row), what pick-images' indices count. */
  local?: number;
}

export interface FailureRecord {
  nodeId: string;
  item?: number;
  row?: EventRow;
  code: ErrorCode;
  message: string;
  provider?: string;
  taskId?: string;
}

export interface RunSummary {
  runId: string;
  pipeline?: string;
  status: FinishedRunStatus;
  startedAt: number;
  elapsedMs: number;
  imagesWritten: string[];
  failures: FailureRecord[];
  skipped: { nodeId: string; item?: number; row?: EventRow; reason: string }[];
  warnings: { nodeId?: string; message: string }[];
  /**
   * What providers charged (or the pricing table's figure, then `costEstimated`) for tasks this
   * run submitted, submits still on the wire at a cancel included; exactly `costMicros` / 1e6.
   * With a ledger it covers every invocation of the run (a resume counts what it paid before).
   */
  costUsd: number;
  costMicros?: number;
  costEstimated?: boolean;
  /** Submits cut off on the wire: maybe charged, never in `costUsd`; their worst case. */
  unconfirmed?: number;
  unconfirmedMicros?: number;
  /** Provider calls made (submits sent), not planned. */
  providerCalls: number;
  /** Provider items served from the store (cache or resume) at no cost. */
  cached?: number;
  /** Results taken from tasks another run submitted (paid there, $0 here). */
  shared?: number;
  /** Image files the run has written, each counted once across resumes. */
  images?: number;
  nodes: Record<string, { status: NodeStatus; items: number; failed: number; elapsedMs: number; costUsd: number }>;
  /** How references reached URL-only providers, per paid item (route and host only). */
  references?: { nodeId: string; item: number; hash: string; route: DeliveredReference['route']; host?: string }[];
}

/** The `nodeProgress` status of an item waiting for room on its provider's lane (queued, not running). */
export const QUEUED_STATUS = 'queued';

export type NodeStatus = 'queued' | 'running' | 'done' | 'failed' | 'partial' | 'skipped' | 'cancelled';

export type RunEvent =
  | { type: 'runStart'; runId: string; at: number; pipeline?: string; nodes: { id: string; type: string }[] }
  | { type: 'nodeStart'; runId: string; at: number; nodeId: string }
  | {
      type: 'nodeProgress';
      runId: string;
      at: number;
      nodeId: string;
      item?: number;
      /** provider status text, e.g. "submitted", "Pending" */
      status?: string;
      fraction?: number;
      itemsDone: number;
      itemsRunning: number;
    }
  | { type: 'itemDone'; runId: string; at: number; nodeId: string; item: number; row?: EventRow; port: string; value: ItemValue; costUsd?: number; cached?: boolean }
  | { type: 'nodeError'; runId: string; at: number; nodeId: string; item?: number; row?: EventRow; code: ErrorCode; message: string; provider?: string; taskId?: string }
  | { type: 'nodeSkipped'; runId: string; at: number; nodeId: string; item?: number; row?: EventRow; reason: string }
  | { type: 'nodeDone'; runId: string; at: number; nodeId: string; status: NodeStatus; items: number; failed: number; elapsedMs: number }
  | { type: 'warning'; runId: string; at: number; nodeId?: string; message: string }
  | { type: 'fileWritten'; runId: string; at: number; nodeId: string; item: number; row?: EventRow; path: string; sidecar: string }
  | { type: 'runDone'; runId: string; at: number; summary: RunSummary };

export type RunEventType = RunEvent['type'];
export type RunEventOf<T extends RunEventType> = Extract<RunEvent, { type: T }>;
export type EventListener = (event: RunEvent) => void;
