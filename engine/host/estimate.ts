/**
 * Cost estimate of a pipeline before it runs: a dry run of the real scheduler in which every
 * provider call is priced from the pricing table instead of sent, and requests the ledger
 * already holds a result for count as cached at zero. Fan-out, picks and references are counted
 * exactly because the scheduler itself walks the graph.
 */
import { crc32, deflateSync } from 'node:zlib';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Pipeline } from '../core/pipeline-schema';
import type { GeneratedImage, ImageRequest, Provider, ProviderSet, TaskRef } from '../core/provider';
import type { NodeRegistry } from '../core/registry';
import type { RunOptions, TaskHooks } from '../core/run-options';
import { checkBatch, type BatchCheck } from '../core/batch-check';
import { isBatch } from '../core/batch-plan';
import { runPipeline } from '../core/run-pipeline';
import type { ValidationResult } from '../core/validate';
import type { FailureRecord } from '../core/events';
import type { ReferenceResolver } from '../core/references';
import type { ArtifactStore } from '../core/store';
import { FileArtifactStore, sha256 } from '../store/artifacts';
import { priceOf } from '../providers/pricing';

export interface NodeEstimate {
  nodeId: string;
  calls: number;
  cached: number;
  usd: number;
  /** Calls whose price is unknown (counted as 0 in `usd`). */
  unpriced: number;
  providers: string[];
}

export interface Estimate {
  /**
   * A batch is priced analytically: one row's calls, times the rows each node runs for. `sources`:
   * each list node's row count and first entries (the editor shows them on the node).
   */
  batch?: { rows: number; sources: Record<string, { count: number; preview: string[] }> };
  totalUsd: number;
  calls: number;
  cached: number;
  unpriced: number;
  nodes: NodeEstimate[];
  warnings: string[];
  /** URL references priced as 1 MP images, since an estimate never downloads them. */
  assumed?: string[];
  /** Items the dry run could not go past (a reference check of engine/refs reads them). */
  failures?: FailureRecord[];
}

/** A PNG with only a header: enough for the engine to read its size, costs nothing to make (never decoded). */
export function standInPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  // The unique tail keeps placeholders of the same size distinct, like real images.
  const tail = chunk('tEXt', Buffer.from(`fluxgraph-estimate\u0000${Math.random()}`, 'latin1'));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), tail, chunk('IEND', Buffer.alloc(0))]);
}

let assumedReference: Buffer | undefined;
/**
 * A complete 1024×1024 grey PNG (1 MP): what the estimate prices a URL reference as, since it
 * never downloads one.
 */
function assumedReferencePng(): Buffer {
  if (assumedReference) return assumedReference;
  const side = 1024;
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr.set([8, 0, 0, 0, 0], 8);
  const rows = Buffer.alloc((side + 1) * side, 128);
  for (let y = 0; y < side; y++) rows[y * (side + 1)] = 0;
  assumedReference = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
  return assumedReference;
}

/** Reads from the real store (cache hits), writes placeholders elsewhere. */
class OverlayStore implements ArtifactStore {
  constructor(private readonly real: ArtifactStore, private readonly scratch: FileArtifactStore) {}
  async put(bytes: Buffer, known?: string) {
    // An image the real store holds (a reference a run already read) is not copied.
    const hash = known ?? sha256(bytes);
    return (await this.real.has(hash)) ? hash : this.scratch.put(bytes, hash);
  }
  async read(hash: string) {
    return (await this.scratch.has(hash)) ? this.scratch.read(hash) : this.real.read(hash);
  }
  async has(hash: string) {
    return (await this.scratch.has(hash)) || this.real.has(hash);
  }
  pathOf(hash: string) {
    return this.scratch.pathOf(hash);
  }
}

function pricingProviders(real: ProviderSet, onCall: (taskId: string, providerId: string, request: ImageRequest) => void): ProviderSet {
  const wrapped = new Map<string, Provider>();
  for (const id of real.ids()) {
    const p = real.get(id);
    if (!p) continue;
    const requests = new Map<string, ImageRequest>();
    let n = 0;
    wrapped.set(id, {
      id,
      title: p.title,
      capabilities: p.capabilities,
      async submit(request): Promise<TaskRef> {
        const taskId = `estimate-${id}-${++n}`;
        onCall(taskId, id, request);
        requests.set(taskId, request);
        return { provider: id, model: request.model, taskId, submittedAt: Date.now() };
      },
      async wait(task): Promise<GeneratedImage> {
        const r = requests.get(task.taskId)!;
        return { bytes: standInPng(r.width ?? 1024, r.height ?? 1024), mime: 'image/png', ...(r.seed !== undefined ? { seed: r.seed } : {}) };
      },
    });
  }
  return { get: (id) => wrapped.get(id), ids: () => real.ids(), defaultId: real.defaultId };
}

export interface EstimateOptions {
  registry: NodeRegistry;
  providers: ProviderSet;
  /** The real store, so cached results are recognised. */
  store: ArtifactStore;
  /** Read-only use: only `lookup` is consulted. */
  tasks?: TaskHooks;
  /** Seeds to use for nodes that draw one (those of the run a resume or run-to-here would reuse). */
  seeds?: Record<string, number>;
  baseDir: string;
  variables?: Record<string, string>;
  provider?: string;
  only?: string[];
  /** The pre-flight of `doc` (see RunOptions.checked): the dry run does not validate it again. */
  checked?: ValidationResult;
  /** The run's `--inputs` rows. */
  inputs?: RunOptions['inputs'] & { count: number; columns: string[] };
  /** The batch pre-flight, when the host already ran it. */
  batch?: BatchCheck;
  /** How references reach URL-only providers in the dry run (engine/refs/cached-plan.ts checks cached ones). */
  references?: ReferenceResolver;
  /** How local image files are read (see RunOptions.readImageFile): the server reads headers only. */
  readImageFile?: RunOptions['readImageFile'];
}

export async function estimatePipeline(doc: Pipeline, o: EstimateOptions): Promise<Estimate> {
  const batch = o.batch ?? (await checkBatch(doc, { registry: o.registry, baseDir: o.baseDir, ...(o.variables ? { variables: o.variables } : {}), ...(o.inputs ? { inputs: o.inputs } : {}) }));
  if (!isBatch(batch.plan)) return estimateRun(doc, o);
  // rows × the price of one row: a dry run of the first row only, so 10,000 rows price in
  // milliseconds. Every row counts as new (the cache is not consulted): an upper bound.
  const { tasks: _cache, ...rest } = o;
  const one = await estimateRun(doc, { ...rest, rowLimit: 1 });
  let rows = 0;
  for (const [id, p] of batch.plan) if (p.carries.size) rows = Math.max(rows, batch.rows.get(id) ?? 0);
  const sources: Record<string, { count: number; preview: string[] }> = {};
  for (const [id, src] of batch.sources) sources[id] = { count: src.count, preview: src.preview };
  for (const n of one.nodes) {
    const times = batch.rows.get(n.nodeId) ?? 1;
    n.calls *= times;
    n.cached *= times;
    n.unpriced *= times;
    n.usd = Math.round(n.usd * times * 1e6) / 1e6;
  }
  return {
    batch: { rows, sources },
    totalUsd: Math.round(one.nodes.reduce((s, n) => s + n.usd, 0) * 1e6) / 1e6,
    calls: one.nodes.reduce((s, n) => s + n.calls, 0),
    cached: one.nodes.reduce((s, n) => s + n.cached, 0),
    unpriced: one.nodes.reduce((s, n) => s + n.unpriced, 0),
    nodes: one.nodes,
    warnings: [...one.warnings, `batch of ${rows} row${rows === 1 ? '' : 's'}: priced as ${rows} × the first row, each row as new (results the cache holds are not subtracted)`],
  };
}

async function estimateRun(doc: Pipeline, o: EstimateOptions & { rowLimit?: number }): Promise<Estimate> {
  const scratchDir = await mkdtemp(join(tmpdir(), 'fluxgraph-estimate-'));
  const nodes = new Map<string, NodeEstimate>();
  const node = (id: string) => {
    let n = nodes.get(id);
    if (!n) nodes.set(id, (n = { nodeId: id, calls: 0, cached: 0, usd: 0, unpriced: 0, providers: [] }));
    return n;
  };
  const priced = new Map<string, { providerId: string; usd: number | undefined }>();
  const assumed: string[] = [];
  try {
    const scratch = new FileArtifactStore(join(scratchDir, 'store'));
    const readOnly: TaskHooks | undefined = o.tasks && {
      // Stored results are free; a task already in flight is paid for, so it is free here too.
      lookup: async (key) => {
        const known = await o.tasks!.lookup(key);
        if (known?.done || !known?.inFlight) return known?.done ? { done: known.done } : undefined;
        const width = key.request.width ?? 1024;
        const height = key.request.height ?? 1024;
        return { done: { hash: await scratch.put(standInPng(width, height)), width, height, mime: 'image/png' } };
      },
      submitted: async () => undefined,
      completed: async () => undefined,
      failed: async () => undefined,
      nodeSeed: async (_run, nodeId, fresh) => (o.seeds?.[nodeId] !== undefined ? { seed: o.seeds[nodeId], reused: true } : { seed: fresh, reused: false }),
    };
    const summary = await runPipeline(doc, {
      registry: o.registry,
      providers: pricingProviders(o.providers, (taskId, providerId, request) => priced.set(taskId, { providerId, usd: priceOf(providerId, request) })),
      store: new OverlayStore(o.store, scratch),
      ...(readOnly ? { tasks: readOnly } : {}),
      baseDir: o.baseDir,
      outDir: join(scratchDir, 'out'),
      // An estimate never fetches: a URL reference is priced as a 1 MP image.
      download: async (url) => {
        if (!assumed.includes(url)) assumed.push(url);
        return assumedReferencePng();
      },
      ...(o.variables ? { variables: o.variables } : {}),
      ...(o.provider ? { provider: o.provider } : {}),
      ...(o.only ? { only: o.only } : {}),
      ...(o.checked ? { checked: o.checked } : {}),
      ...(o.inputs ? { inputs: o.inputs } : {}),
      ...(o.rowLimit !== undefined ? { rowLimit: o.rowLimit } : {}),
      ...(o.references ? { references: o.references } : {}),
      ...(o.readImageFile ? { readImageFile: o.readImageFile } : {}),
      onEvent: (e) => {
        if (e.type !== 'itemDone' || e.value.kind !== 'image' || e.value.image.meta?.nodeId !== e.nodeId) return;
        const n = node(e.nodeId);
        if (e.cached) return void n.cached++;
        const price = priced.get(e.value.image.meta?.taskId ?? '');
        if (!price) return;
        n.calls++;
        if (!n.providers.includes(price.providerId)) n.providers.push(price.providerId);
        if (price.usd === undefined) n.unpriced++;
        else n.usd += price.usd;
      },
    });
    const list = [...nodes.values()].filter((n) => n.calls || n.cached);
    return {
      totalUsd: Math.round(list.reduce((s, n) => s + n.usd, 0) * 1e6) / 1e6,
      calls: list.reduce((s, n) => s + n.calls, 0),
      cached: list.reduce((s, n) => s + n.cached, 0),
      unpriced: list.reduce((s, n) => s + n.unpriced, 0),
      nodes: list,
      ...(assumed.length ? { assumed } : {}),
      ...(summary.failures.length ? { failures: summary.failures } : {}),
      warnings: [...summary.warnings.map((w) => w.message), ...assumed.map((url) => `reference ${url} is priced as 1 MP (assumed; estimates never download)`), ...summary.failures.map((f) => `cannot estimate past ${f.nodeId}: ${f.message}`)],
    };
  } finally {
    await rm(scratchDir, { recursive: true, force: true });
  }
}
