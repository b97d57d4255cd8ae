/**
 * The HTTP API between the editor and its local server (engine/server). Plain JSON; the server
 * imports these types (it is a composition root), the editor never imports the server.
 */
import type { NodeDescriptor } from '../../engine/core/describe';
import type { RunStatus } from '../../engine/core/money';
import type { ValidationIssue } from '../../engine/core/validate';

/** A problem the engine's validator found. */
export type Issue = ValidationIssue;

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
  /** The folder the document's relative paths resolve against (absolute, on the server). */
  folder?: string;
}

/**
 * Where the document being edited came from, so its relative paths resolve as the CLI resolves
 * them: a file inside --base-dir (path relative to it), or an example template. None: --base-dir.
 */
export type DocumentSource = { kind: 'file'; path: string } | { kind: 'template'; name: string };

export interface FileEntry {
  /** Relative to --base-dir, "/" separated. */
  path: string;
  name: string;
  nodes: number;
  modifiedAt: number;
}

export interface FilesResponse {
  baseDir: string;
  files: FileEntry[];
}

export interface FileResponse {
  path: string;
  text: string;
}

export interface SaveFileRequest {
  path: string;
  text: string;
  overwrite?: boolean;
}

export interface TemplateEntry {
  name: string;
  title: string;
  description?: string;
  nodes: number;
  types: string[];
}

export interface TemplatesResponse {
  templates: TemplateEntry[];
}

export interface TemplateResponse {
  name: string;
  text: string;
}

/** POST /api/assets: a reference image written beside the document. */
export interface AssetResponse {
  /** The value for the reference-image node's `source`: relative to the document's folder. */
  source: string;
  /** Where the file is, relative to --base-dir. */
  path: string;
  width: number;
  height: number;
  bytes: number;
}

/** The document `fluxgraph serve pipeline.json` was started with, if any. */
export interface OpenedResponse {
  path?: string;
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
  /**
   * Run only these nodes and what they depend on ("run to here"). Without `seedsFrom`, the
   * latest run of the same pipeline (by name) lends its seeds, so upstream results are reused.
   */
  only?: string[];
  /** Where the document came from: its relative paths resolve against that file's folder. */
  source?: DocumentSource;
}

/** POST /api/estimate: the same body as a run; the answer prices every provider call it would make. */
export type EstimateRequest = StartRunRequest;

export interface ValidateRequest {
  pipeline: unknown;
  source?: DocumentSource;
}

/** One node's share of an estimate (mirrors engine/host/estimate.ts). */
export interface NodeEstimate {
  nodeId: string;
  /** Provider calls that would be paid for. */
  calls: number;
  /** Items the store already holds: free. */
  cached: number;
  usd: number;
  /** Calls whose price is unknown (counted as 0 in `usd`). */
  unpriced: number;
  providers: string[];
}

export interface EstimateResponse {
  totalUsd: number;
  calls: number;
  cached: number;
  unpriced: number;
  /** Only nodes that call a provider. */
  nodes: NodeEstimate[];
  warnings: string[];
  /** A batch: the rows it runs for, and each list node's row count and first entries. */
  batch?: { rows: number; sources: Record<string, { count: number; preview: string[] }> };
}

/** POST /api/provenance (the image's bytes): the record a saved image carries. */
export interface ProvenanceResponse {
  /** The pipeline document that made the image, with the seeds its run drew filled in. */
  pipeline: unknown;
  runId?: string;
  /** The node that made the image, its item and seed. */
  nodeId?: string;
  item?: number;
  seed?: number;
}

export interface StartRunResponse {
  runId: string;
  /** Validator warnings (errors refuse the run with 422). */
  issues: Issue[];
}

/** What the lightbox shows of an image: how it was made and what it cost. */
export interface ImageFacts {
  provider?: string;
  model?: string;
  seed?: number;
  prompt?: string;
  taskId?: string;
  /** What this image's provider call cost this run (0 for a cached or shared result); format with formatUsd. */
  costMicros?: number;
  costEstimated?: boolean;
  /** A reference image's file or URL. */
  source?: string;
}

export interface RunImage {
  nodeId: string;
  item: number;
  /** The batch row (from 1) the image was made for. */
  row?: number;
  /** Its index within its row (which draft of this row): what a pick node's indices count in a batch. */
  local?: number;
  hash: string;
  width: number;
  height: number;
  /** Served from the store (cache or resume), not paid for in this run. */
  cached?: boolean;
  facts?: ImageFacts;
}

/** One provider account while runs go: its cap and calls (active here, active in other processes, waiting, paused by a 429). */
export interface AccountLoad {
  provider: string;
  account: string;
  cap: number;
  active: number;
  /** Active in other processes sharing this ledger (the CLI, another terminal). */
  elsewhere: number;
  waiting: number;
  paused: boolean;
}

export interface AccountsResponse {
  accounts: AccountLoad[];
}

/** A spending cap that applies to the signed-in person, with what is spent (micro-dollars). */
export interface CapStandingView {
  scope: 'person' | 'team';
  name: string;
  dayMicros?: number;
  monthMicros?: number;
  spentDayMicros: number;
  spentMonthMicros: number;
}

export interface SessionResponse {
  person: string | null;
  team?: string;
  admin?: boolean;
  caps?: CapStandingView[];
}

export interface RunRecord {
  runId: string;
  pipeline?: string;
  /** The person who started it (a team server's access token); absent on a server without tokens. */
  owner?: string;
  /** One of the closed list of run statuses (engine/core/money.ts). */
  status: RunStatus;
  startedAt: number;
  elapsedMs?: number;
  nodeCount: number;
  /** A run to here: the nodes it ran up to. */
  only?: string[];
  images: RunImage[];
  imagesWritten: string[];
  failures: number;
  /** The run's cost as the ledger has it (exactly `costMicros` / 1e6); format with `formatCost`. */
  costUsd?: number;
  costMicros?: number;
  costEstimated?: boolean;
  /** Worst case of submits cut off on the wire (maybe charged). */
  unconfirmedMicros?: number;
  /** Provider calls made. */
  providerCalls?: number;
  /** Results shared from other runs' tasks ($0 here). */
  shared?: number;
  /** Image files written, each once across resumes. */
  imageCount?: number;
  resumable?: boolean;
  /** Who started it: the editor, or the CLI or a library (runs the ledger knows of). */
  origin?: 'editor' | 'cli';
  /** Continued with a resume at least once. */
  resumed?: boolean;
  /** A batch's results.csv. */
  results?: string;
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
