/**
 * Declaring a node type, once (design.md 1.4): ports, zod params and `run`. Validation, the
 * TypeScript types of `run`'s arguments, the CLI's `nodes` listing and the editor's forms are
 * all derived from this declaration.
 */
import type { z } from 'zod';
import type { ImageAsset, InputPort, InputPorts, OutputPorts, PortValue } from './ports';
import type { ImageRequest, ModelId } from './provider';
import type { ArtifactStore } from './store';
import type { ErrorCode } from './errors';
import type { LocalImageFile, SavedFile } from './run-options';
import type { Row, RowTag } from './rows';

type InputValue<P extends InputPort> = P['multiple'] extends true
  ? PortValue<P['kind']>[]
  : P['required'] extends true
    ? PortValue<P['kind']>
    : PortValue<P['kind']> | undefined;

/** What `run` receives for each input port. The `eachItemOf` port holds just the current item (a one-item array). */
export type InputValues<I extends InputPorts> = { [K in keyof I]: InputValue<I[K]> };

/** What `run` returns for each output port: one value per invocation (list outputs collect them). */
export type OutputValues<O extends OutputPorts> = { [K in keyof O]?: PortValue<O[K]['kind']> };

export interface GenerateOptions {
  /** Provider id chosen by the node's own param, if any. */
  provider?: string;
  /** Label for progress (e.g. "draft 3"). */
  label?: string;
  /**
   * True when the request is fully determined by the document (an explicit seed), so a stored
   * result for the same request may be reused. A fresh random seed is never served from cache.
   */
  cacheable?: boolean;
}

/** What a node can use while it runs. Everything here is provided by the runner. */
export interface NodeContext {
  runId: string;
  nodeId: string;
  nodeType: string;
  pipelineName?: string;
  /** Index of this invocation's output item in the node's output list. */
  item: number;
  /** 0..fanOut-1 within one input item (e.g. which draft). */
  fanIndex: number;
  /** Index of the mapped input item, when the node runs per item (within its row, in a batch). */
  inputItem?: number;
  /** The row this invocation works for, in a batch (`n` from 1; `local`: the item within the row). */
  row?: RowTag;
  signal: AbortSignal;
  store: ArtifactStore;
  /** Folder relative paths in params are resolved against (the pipeline file's folder). */
  baseDir: string;
  /** Output folder for saved files. */
  outDir: string;
  /**
   * A fresh random seed for this node in this run, the same for all its invocations (so drafts
   * get seed, seed+1, ...). Recorded in events and sidecars, so a run can be reproduced.
   */
  nodeSeed: number;
  /** Values for `{name}` placeholders. */
  variables: Record<string, string>;
  /**
   * The document being run (after `--set` overrides) and the seed every provider node drew in this run,
   * for provenance: together they reproduce the run.
   */
  pipeline: { name?: string; document: unknown; seeds: Record<string, number> };
  /** Runs a provider request through the provider's lane and stores the image. */
  generate(request: ImageRequest, options?: GenerateOptions): Promise<ImageAsset>;
  /**
   * Downloads a URL a pipeline names, under the host's rules (public addresses only unless
   * allowed, byte cap, time limit). A run's pre-flight may have fetched it already.
   */
  download(url: string): Promise<Buffer>;
  /** Reads a local image file under `maxBytes`, the host's way (a cost estimate reads only its header: `standIn`). */
  readImageFile(path: string, maxBytes: number): Promise<LocalImageFile>;
  /** Stores bytes and returns the asset (for reference images and other local work). */
  putImage(bytes: Buffer, meta?: ImageAsset['meta']): Promise<ImageAsset>;
  /** Records a file this node wrote (save-image): image and sidecar in place; `file` for the ledger. */
  fileWritten(path: string, sidecar: string, file?: SavedFile): void | Promise<void>;
  /** Files this run already wrote for this node and item (a resumed run keeps them). */
  savedFiles?(): Promise<SavedFile[]>;
  warn(message: string): void;
  progress(status: string, fraction?: number): void;
}

export interface RunArgs<I extends InputPorts, P> {
  inputs: InputValues<I>;
  params: P;
  ctx: NodeContext;
}

export interface NodeDefinition<
  I extends InputPorts = InputPorts,
  O extends OutputPorts = OutputPorts,
  S extends z.ZodType = z.ZodType,
> {
  /** Persisted in pipeline files: rename only with a migration. */
  type: string;
  title: string;
  description: string;
  /** Bumped when behaviour changes in a way that must invalidate cached results. */
  version: number;
  category: 'input' | 'generate' | 'select' | 'output';
  inputs: I;
  outputs: O;
  params: S;
  /**
   * The input port this node runs once per item of (streaming): each item of that list
   * starts its own invocation as soon as it arrives. Other inputs are awaited whole.
   */
  eachItemOf?: keyof I & string;
  /**
   * A row source (list node): `run` is invoked once per row, with `ctx.row`, as the run pulls
   * rows (never all at once); its outputs should be declared `iterates`.
   */
  rowSource?: RowSource<z.output<S>>;
  /** Row fields the params refer to (`{field:NAME}`): the pre-flight checks the batch's rows have them. */
  rowFields?: (params: z.output<S>) => string[];
  /** How two iterated inputs from different row sources meet: pairwise or every pair. */
  combine?: (params: z.output<S>) => 'zip' | 'product';
  /** How many invocations per item (or per run): e.g. the number of drafts. */
  fanOut?: (params: z.output<S>) => number;
  /** True when `run` may call `ctx.generate` (a paid provider call). */
  usesProvider?: boolean;
  /**
   * What this node will ask a provider for, so validation can check provider capabilities
   * before anything is spent. `setFields` are the request fields the user set explicitly.
   */
  providerRequest?: (params: z.output<S>, explicitParams: readonly string[]) => PlannedRequest;
  /**
   * Where the images of a node that makes none with a provider come from: `local` (a file: a
   * provider that only takes URLs needs an upload or a link for it) or `url` (public already).
   * Nodes without it and without `usesProvider` pass images through (pick-images).
   */
  imageSource?: (params: z.output<S>) => 'local' | 'url';
  /** The text this node emits when it is known before the run (a prompt with its placeholders filled). */
  staticText?: (params: z.output<S>, variables: Record<string, string>) => string | undefined;
  /** Checks beyond the params schema (placeholders, files): returned issues are errors. */
  check?: (params: z.output<S>, env: CheckEnv) => NodeCheckIssue[];
  /**
   * Returns null to drop the item (e.g. pick-images filters); otherwise the outputs of this
   * invocation. Throw an EngineError to fail just this item.
   */
  run(args: RunArgs<I, z.output<S>>): Promise<OutputValues<O> | null>;
  /** Image files or URLs this node reads, so the host's pre-flight can check them before the run. */
  imageSources?: (params: z.output<S>) => { param: string; source: string }[];
  /**
   * For nodes that drop items (pick-images): whether the item with this input index is passed
   * on. Lets validation know statically which indices reach the nodes downstream.
   */
  passes?: (params: z.output<S>, index: number) => boolean;
  /** The `{name}` variables this node's params use (prompts), so an unused `--set name=` is reported. */
  placeholders?: (params: z.output<S>) => string[];
  /**
   * The file names this node writes, as a pattern with `{node}` filled in (save-image), so two
   * nodes writing the same names are refused before the run.
   */
  fileNamePattern?: (params: z.output<S>, nodeId: string) => string;
  /**
   * Called once the `eachItemOf` list is complete, with the indices it had (ascending); returns
   * an error message when the params do not fit (e.g. a picked index that is not in the list).
   */
  afterItems?: (params: z.output<S>, indices: readonly number[], upstream: string) => string | undefined;
}

export interface PlannedRequest {
  model: ModelId;
  /** The node's own provider param, if set. */
  provider?: string;
  /** Request fields the user set explicitly (a provider that ignores one gets a warning). */
  setFields: (keyof ImageRequest)[];
  width?: number;
  height?: number;
  /** Reference images per call, if known statically. */
  references?: number;
  /** Provider calls this node makes per input item (e.g. the draft count). */
  calls?: number;
}

export interface RowSource<P> {
  /** Counts and checks the rows in one streaming pass, for the pre-flight, the estimate and the editor. */
  scan(params: P, env: RowEnv): Promise<RowSourceScan>;
  /** The rows in order, read lazily. */
  rows(params: P, env: RowEnv & { baseDir: string; signal: AbortSignal }): AsyncIterable<Row>;
  /** The local files, folders or globs it reads (as written in the params), so a host can confine them to a folder. */
  paths?(params: P): { param: string; path: string }[];
}

export interface RowSourceScan {
  count: number;
  /** Fields each row has ({field:NAME} in file names may use them). */
  columns: string[];
  /** Malformed rows, with the line they start on, reported before anything is spent. */
  issues: { line?: number; message: string; param?: string }[];
  /** The first entries, for the editor. */
  preview: string[];
}

export interface CheckEnv {
  variables: Record<string, string>;
  /** The id of the node being checked. */
  nodeId: string;
  /** The longest node id of the pipeline, for names built from ids. */
  longestNodeId: number;
  /** The pipeline file's folder, when known. */
  baseDir?: string;
}

/** What a row source reads with: the variables and the pipeline's folder (no node ids). */
export type RowEnv = Omit<CheckEnv, 'nodeId' | 'longestNodeId'> & {
  /** The server's base folder: files a scan lists must lie inside it, symbolic links included. */
  confineTo?: string;
};

export interface NodeCheckIssue {
  code: ErrorCode;
  message: string;
  param?: string;
  severity?: 'error' | 'warning';
}

export type AnyNodeDefinition = NodeDefinition<InputPorts, OutputPorts, z.ZodType>;

/** Identity at run time; at compile time it infers ports and params for `run`. */
export function defineNode<const I extends InputPorts, const O extends OutputPorts, S extends z.ZodType>(
  def: NodeDefinition<I, O, S>,
): NodeDefinition<I, O, S> {
  return def;
}
