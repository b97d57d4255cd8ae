/**
 * The `ctx` a node's `run` receives. One small object per invocation holds only the item's own
 * fields; everything shared by the node's invocations (ids, seed, store, folders, the document)
 * is read through to the node and run state, and the methods live once on the prototype.
 */
import type { GenerateOptions, NodeContext } from '../define-node';
import { EngineError } from '../errors';
import { readImageInfo } from '../image-info';
import type { ImageAsset } from '../ports';
import type { ImageRequest } from '../provider';
import type { LocalImageFile, SavedFile } from '../run-options';
import { readImageFile } from '../image-file';
import { INPUTS_SOURCE, type RowTag } from '../rows';
import type { ArtifactStore } from '../store';
import { emitProgress } from './node-outcome';
import type { NodeState, RunState } from './run-state';

export class ItemContext implements NodeContext {
  constructor(
    private readonly run: RunState,
    private readonly state: NodeState,
    readonly item: number,
    readonly fanIndex: number,
    readonly inputItem: number | undefined,
    readonly row: RowTag | undefined,
  ) {}

  get runId(): string {
    return this.run.runId;
  }
  get nodeId(): string {
    return this.state.node.id;
  }
  get nodeType(): string {
    return this.state.node.type;
  }
  get pipelineName(): string | undefined {
    return this.run.pipeline.name || undefined;
  }
  get nodeSeed(): number {
    return this.state.seed;
  }
  get signal(): AbortSignal {
    return this.run.signal;
  }
  get store(): ArtifactStore {
    return this.run.options.store;
  }
  get baseDir(): string {
    return this.run.options.baseDir;
  }
  get outDir(): string {
    return this.run.options.outDir;
  }
  /** In a run over `--inputs`, each row's fields are its variables. */
  get variables(): Record<string, string> {
    return this.row && INPUTS_SOURCE in this.row.of ? { ...this.run.variables, ...this.row.fields } : this.run.variables;
  }
  get pipeline(): NodeContext['pipeline'] {
    return this.run.provenance;
  }

  async generate(request: ImageRequest, opts?: GenerateOptions): Promise<ImageAsset> {
    const { run, state: s, item } = this;
    const asset = await run.calls.generate(request, opts?.provider, {
      runId: run.runId,
      nodeId: s.node.id,
      nodeType: s.node.type,
      nodeVersion: s.def.version,
      cacheable: opts?.cacheable === true || s.seedReused,
      item,
      ...(this.row ? { row: this.row.n } : {}),
      signal: run.signal,
      onStatus: (status, fraction) => emitProgress(run, s, item, opts?.label ? `${opts.label}: ${status}` : status, fraction),
      onWarning: (message) => this.warn(message),
    });
    const warnings = [...(run.warningsByNode.get(s.node.id) ?? []), ...(asset.meta?.warnings ?? [])];
    return { ...asset, meta: { ...asset.meta, ...(warnings.length ? { warnings } : {}) } };
  }

  async readImageFile(path: string, maxBytes: number): Promise<LocalImageFile> {
    const read = this.run.options.readImageFile;
    return read ? read(path, maxBytes) : { bytes: await readImageFile(path, maxBytes) };
  }

  async download(url: string): Promise<Buffer> {
    const { download } = this.run.options;
    if (!download) throw new EngineError('invalid_input', `cannot download ${url}: this host gives the run no downloader (RunOptions.download)`, { param: 'source' });
    return download(url, this.run.signal);
  }

  async putImage(bytes: Buffer, meta?: ImageAsset['meta']): Promise<ImageAsset> {
    const info = readImageInfo(bytes);
    if (!info) throw new EngineError('invalid_input', 'not a JPEG, PNG or WebP image');
    const hash = await this.run.options.store.put(bytes);
    return { hash, ...info, meta: { nodeId: this.state.node.id, ...meta } };
  }

  async savedFiles(): Promise<SavedFile[]> {
    return (await this.run.options.tasks?.savedFiles?.(this.run.runId, this.state.node.id, this.item)) ?? [];
  }

  async fileWritten(path: string, sidecar: string, file?: SavedFile): Promise<void> {
    const tasks = this.run.options.tasks;
    if (file && tasks?.fileSaved) {
      // The file is in place either way; a ledger that cannot record it only costs a second copy on resume.
      await tasks.fileSaved(this.run.runId, this.state.node.id, this.item, file).catch((e: unknown) => this.warn(`could not record ${path} in the ledger: ${(e as Error).message}`));
    }
    this.run.summary.imagesWritten.push(path);
    const row = this.row ? { row: { n: this.row.n, fields: this.row.fields } } : {};
    this.run.emit({ type: 'fileWritten', runId: this.run.runId, at: Date.now(), nodeId: this.state.node.id, item: this.item, ...row, path, sidecar });
  }

  warn(message: string): void {
    this.run.summary.warnings.push({ nodeId: this.state.node.id, message });
    this.run.emit({ type: 'warning', runId: this.run.runId, at: Date.now(), nodeId: this.state.node.id, message });
  }

  progress(status: string, fraction?: number): void {
    emitProgress(this.run, this.state, this.item, status, fraction);
  }
}
