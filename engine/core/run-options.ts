/** What a host (CLI, server, library caller) hands to `runPipeline`. */
import type { EventListener } from './events';
import type { Lanes, SlotGate } from './lanes';
import type { RunMoney } from './money';
import type { ImageRequest, ProviderSet, TaskRef, GeneratedImage } from './provider';
import type { ReferenceResolver } from './references';
import type { RemoteCalls } from './provider-calls';
import type { NodeRegistry } from './registry';
import type { Row } from './rows';
import type { ArtifactStore } from './store';
import type { ValidationResult } from './validate';

export interface RunOptions {
  registry: NodeRegistry;
  providers: ProviderSet;
  store: ArtifactStore;
  /** Relative paths in params (reference images) resolve against this: the pipeline file's folder. */
  baseDir: string;
  /** Where save-image writes files. */
  outDir: string;
  signal?: AbortSignal;
  onEvent?: EventListener;
  runId?: string;
  /** `{name}` placeholder values; override `settings.variables`. */
  variables?: Record<string, string>;
  /** Run-level provider (`--provider`): beats the pipeline's settings, loses to a node's own param. */
  provider?: string;
  /** Caps of each account of a provider; beat `settings.concurrency`, which beats the provider's documented cap. */
  concurrency?: Record<string, number>;
  /**
   * Account slots shared with other processes (the SQLite ledger's lease rows), so runs in several
   * processes together stay within each account's cap; absent: the caps hold within this run.
   */
  slots?: SlotGate;
  /** Handed the run's lanes once they exist: hosts show each account's active, waiting and paused calls. */
  onLanes?: (lanes: Lanes) => void;
  /**
   * Paid calls made elsewhere (team mode: each one a call job on its provider account's queue);
   * absent: through `providers` in this process.
   */
  remoteCalls?: RemoteCalls;
  /** Overall limit per provider task (default: settings.taskTimeoutSec or 10 minutes). */
  taskTimeoutMs?: number;
  /** Durable task bookkeeping (ledger, resume, cache); absent = plain submit + wait. */
  tasks?: TaskHooks;
  /** Stop submitting once the cost reported by providers reaches this many USD. */
  budgetUsd?: number;
  /**
   * Expected USD of a request (pricing table): in-flight tasks count against the budget with it,
   * and it is the recorded cost (marked estimated) when a provider reports none.
   */
  priceOf?: (providerId: string, request: ImageRequest) => number | undefined;
  /** Public URLs for references of URL-only providers (engine/refs); absent: only user-given URLs. */
  references?: ReferenceResolver;
  /**
   * Downloads of URLs the pipeline names (reference images). Hosts pass the safe fetch (or the
   * bytes their pre-flight fetched); without it a URL reference fails its items.
   */
  download?: (url: string, signal: AbortSignal) => Promise<Buffer>;
  /**
   * Reads a local image file a node names (reference-image, image-folder); default: the whole
   * file, under the byte cap. A cost estimate passes a reader of headers only, whose images are
   * stand-ins of the file's size (never decoded, never sent).
   */
  readImageFile?: (path: string, maxBytes: number) => Promise<LocalImageFile>;
  /** Run only these nodes and what they depend on ("run to here"); upstream results are reused where stored. */
  only?: string[];
  /**
   * The host's pre-flight of this very document: `validatePipeline(doc, …)` with the same
   * registry, providers, provider, variables and base folder, whose `pipeline` is the `doc`
   * passed to `runPipeline`. The run then does not validate it again and reports its warnings.
   * A result for another document object is ignored (the run validates, as without it).
   */
  checked?: ValidationResult;
  /**
   * Rows bound to the pipeline's variables (`--inputs rows.csv`): the pipeline runs once per row,
   * inside this one run. `rows` is read lazily and may be called more than once.
   */
  inputs?: { rows: () => AsyncIterable<Row>; count?: number; columns?: string[] };
  /** Most batch rows open at once per row source (default 256): bounds memory, keeps lanes full. */
  rowWindow?: number;
  /** Take only the first N rows of every row source (the estimate prices one row and multiplies). */
  rowLimit?: number;
}

/** A local image file as a node gets it. */
export interface LocalImageFile {
  bytes: Buffer;
  /** Not the file's bytes but an image of its size (an estimate read only the header): do not decode it. */
  standIn?: boolean;
}

/**
 * Seams for the ledger (issue 5): record a paid task between submit and wait, re-attach to
 * one on resume, or serve a stored result.
 */
export interface TaskHooks {
  /**
   * The seed a node uses in this run: the stored one when resuming (or when re-running part of
   * an earlier run), else `fresh`, which is then recorded. `reused` makes its requests cacheable.
   */
  nodeSeed?(runId: string, nodeId: string, fresh: number): Promise<{ seed: number; reused: boolean }>;
  /**
   * A stored result or in-flight task for this exact request, if one exists; `interrupted`
   * when an earlier attempt was cut off while its submit was on the wire (it may have been paid).
   */
  lookup(key: TaskKey): Promise<TaskLookup | undefined>;
  /**
   * Written just before the submit request is sent. `elsewhere`: another run is sending the same
   * cacheable request right now; the caller waits for it instead of paying again.
   */
  submitting?(key: TaskKey): Promise<'claimed' | 'elsewhere' | void>;
  submitted(key: TaskKey, task: TaskRef): Promise<void>;
  completed(key: TaskKey, task: TaskRef, result: GeneratedImageRecord): Promise<void>;
  /** `error.details.resumable`: the task may still finish at the provider; keep waiting on it later. */
  failed(key: TaskKey, task: TaskRef | undefined, error: { code: string; message: string; details?: { resumable?: unknown } }): Promise<void>;
  /** The run's money as recorded (all its invocations: a resumed run counts what it paid before too). */
  runMoney?(runId: string): Promise<RunMoney>;
  /** Files this run already wrote for a node's item (a resume keeps them instead of writing again). */
  savedFiles?(runId: string, nodeId: string, item: number): Promise<SavedFile[]>;
  /** Records a file written (image and sidecar in place). */
  fileSaved?(runId: string, nodeId: string, item: number, file: SavedFile): Promise<void>;
}

export interface TaskLookup {
  done?: GeneratedImageRecord;
  inFlight?: TaskRef;
  /** An earlier attempt was cut off while its submit was on the wire (it may have been paid). */
  interrupted?: boolean;
  /** The attempt that was cut off belongs to another run, whose process is gone. */
  interruptedRun?: string;
  /** Another live run is sending this very request right now. */
  busyElsewhere?: boolean;
  /** `done` / `inFlight` is another run's task: paid there, $0 here. */
  shared?: boolean;
  /** The task failed in an earlier run (a resumed batch leaves failed rows failed unless --retry-failed). */
  failed?: { code: string; message: string };
}

export interface SavedFile {
  path: string;
  /** The generated image (store hash) the file holds. */
  imageHash: string;
  /** sha-256 of the written file (image plus embedded provenance). */
  fileSha256: string;
}

export interface TaskKey {
  runId: string;
  nodeId: string;
  item: number;
  /** The batch row (from 1) the task is for, if the run is a batch. */
  row?: number;
  provider: string;
  nodeType: string;
  nodeVersion: number;
  /** May a stored result of another run be reused (explicit or reused seed)? */
  cacheable: boolean;
  /** A stored result for this request turned out damaged: make it again, do not reuse it. */
  regenerate?: boolean;
  /** sha-256 over the normalized request (model, params, reference hashes, seed) and the node type and version. */
  requestHash: string;
  request: Omit<ImageRequest, 'references'> & { referenceHashes: string[] };
  /** The pricing table's figure for the request: the recorded cost until the provider reports one. */
  expectedUsd?: number;
  /** Provider account the task goes to (team mode; absent: the provider's only key). */
  account?: string;
}

export interface GeneratedImageRecord extends Omit<GeneratedImage, 'bytes'> {
  hash: string;
  /** The provider reported no cost; `costUsd` is the pricing table's figure. */
  costEstimated?: boolean;
  width: number;
  height: number;
}

export type { TaskRef };
