/**
 * The HTTP API between the editor and its local server (engine/server). Plain JSON; the server
 * imports these types (it is a composition root), the editor never imports the server.
 */
import type { NodeDescriptor } from '../../engine/core/describe';
import type { ErrorCode } from '../../engine/core/errors';
import type { RunSummary } from '../../engine/core/events';

/** A problem the engine's validator found (mirrors engine/core/validate.ts). */
export interface Issue {
  code: ErrorCode;
  severity: 'error' | 'warning';
  message: string;
  nodeId?: string;
  port?: string;
  param?: string;
  edgeIndex?: number;
  line?: number;
  column?: number;
}

export interface ApiErrorBody {
  error: { code: string; message: string };
  issues?: Issue[];
}

export type NodesResponse = NodeDescriptor[];

export interface ProviderInfo {
  id: string;
  title: string;
  /** A key for this provider is set in the server's environment (the key itself never leaves it). */
  hasKey: boolean;
  /** Calls go to the embedded emulator instead of the real provider. */
  emulated: boolean;
  models: string[];
  defaultConcurrency: number;
}

export interface ProvidersResponse {
  providers: ProviderInfo[];
  defaultId: string;
  /** No key was set, so runs use the in-process emulator (free, offline). */
  embeddedEmulator: boolean;
}

export interface ValidateRequest {
  pipeline: unknown;
}

export interface ValidateResponse {
  ok: boolean;
  issues: Issue[];
}

export interface StartRunRequest {
  pipeline: unknown;
  /** Run-level provider override. */
  provider?: string;
  variables?: Record<string, string>;
  /**
   * Reuse this earlier run's random seeds: unchanged nodes make the same images (served from the
   * cache, free), so the drafts a user picked are the drafts that get refined.
   */
  seedsFrom?: string;
}

export interface StartRunResponse {
  runId: string;
  /** Validator warnings (errors refuse the run with 422). */
  issues: Issue[];
}

export interface RunImage {
  nodeId: string;
  item: number;
  hash: string;
  width: number;
  height: number;
}

export interface RunRecord {
  runId: string;
  pipeline?: string;
  status: 'running' | RunSummary['status'];
  startedAt: number;
  elapsedMs?: number;
  nodeCount: number;
  images: RunImage[];
  imagesWritten: string[];
  failures: number;
  costUsd?: number;
}

export interface RunsResponse {
  runs: RunRecord[];
}

export interface ServerInfo {
  name: 'fluxgraph';
  version: string;
  /** Where save-image writes files, relative to the server's working directory when inside it. */
  outDir: string;
}
