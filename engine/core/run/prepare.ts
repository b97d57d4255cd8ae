/** Step 1 of a run: validate the document and build the run's state, before any node starts. */
import { randomInt } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { EngineError } from '../errors';
import type { RunEvent, RunSummary } from '../events';
import { ItemStream } from '../item-stream';
import { Lanes, laneProvider } from '../lanes';
import type { Pipeline } from '../pipeline-schema';
import { ProviderCalls } from '../provider-calls';
import type { RunOptions } from '../run-options';
import { validatePipeline, type ValidationResult } from '../validate';
import { planBatch, type BatchPlan } from '../batch-plan';
import { INPUTS_SOURCE, type Row } from '../rows';
import { newRunId } from './run-id';
import { RowFeed } from './row-feed';
import { onlyUpTo } from './only-up-to';
import type { NodeState, RunState, Wire } from './run-state';

export const DEFAULT_TASK_TIMEOUT_MS = 10 * 60 * 1000;

/** Throws `invalid_document` for an invalid pipeline; otherwise the run, ready to start. */
export async function prepareRun(doc: Pipeline, options: RunOptions): Promise<RunState> {
  const preflight = options.checked?.pipeline === doc ? options.checked : undefined;
  if (options.only?.length) doc = onlyUpTo(doc, options.only);
  const variables = { ...doc.settings?.variables, ...options.variables };
  // Each `--inputs` row fills its columns as variables, so they count as filled here.
  const columns = Object.fromEntries((options.inputs?.columns ?? []).map((c) => [c, '']));
  const checked = preflight
    ? forPart(preflight, doc)
    : validatePipeline(doc, { registry: options.registry, providers: options.providers, provider: options.provider, variables: { ...columns, ...variables }, baseDir: options.baseDir });
  if (!checked.ok || !checked.pipeline) {
    const errors = checked.issues.filter((i) => i.severity === 'error');
    throw new EngineError('invalid_document', `the pipeline is invalid:\n${errors.map((i) => `  - ${i.message}`).join('\n')}`, { issues: errors });
  }
  const pipeline = checked.pipeline;
  const runId = options.runId ?? newRunId();
  const signal = options.signal ?? new AbortController().signal;
  // Every queued provider call listens for the abort; thousands of them are expected.
  setMaxListeners(0, signal);
  const startedAt = Date.now();

  const summary: RunSummary = {
    runId,
    ...(pipeline.name ? { pipeline: pipeline.name } : {}),
    status: 'done',
    startedAt,
    elapsedMs: 0,
    imagesWritten: [],
    failures: [],
    skipped: [],
    warnings: checked.issues.filter((i) => i.severity === 'warning').map((i) => ({ ...(i.nodeId ? { nodeId: i.nodeId } : {}), message: i.message })),
    costUsd: 0,
    providerCalls: 0,
    cached: 0,
    nodes: {},
  };
  const warningsByNode = new Map<string, string[]>();
  for (const w of summary.warnings) if (w.nodeId) warningsByNode.set(w.nodeId, [...(warningsByNode.get(w.nodeId) ?? []), w.message]);

  const defaultProvider = options.provider ?? pipeline.settings?.provider ?? options.providers.defaultId;
  const caps = { ...pipeline.settings?.concurrency, ...options.concurrency };
  // Caps are per account: `bfl=8` caps each BFL account's lane at 8.
  const capOf = (lane: string) => {
    const id = laneProvider(lane);
    return caps[id] ?? options.providers.get(id)?.capabilities.defaultConcurrency ?? 4;
  };
  const lanes = new Lanes(capOf, options.slots);
  options.onLanes?.(lanes);
  const calls = new ProviderCalls({
    providers: options.providers,
    lanes,
    store: options.store,
    ...(options.tasks ? { tasks: options.tasks } : {}),
    taskTimeoutMs: options.taskTimeoutMs ?? (pipeline.settings?.taskTimeoutSec ? pipeline.settings.taskTimeoutSec * 1000 : DEFAULT_TASK_TIMEOUT_MS),
    defaultProvider,
    ...(options.budgetUsd !== undefined ? { budgetUsd: options.budgetUsd } : {}),
    ...(options.priceOf ? { priceOf: options.priceOf } : {}),
    ...(options.references ? { references: options.references } : {}),
    ...(options.remoteCalls ? { remote: options.remoteCalls } : {}),
  });

  const states = new Map<string, NodeState>();
  for (const node of pipeline.nodes) {
    const def = options.registry.get(node.type)!;
    const outputs: Record<string, ItemStream> = {};
    for (const port of Object.keys(def.outputs)) outputs[port] = new ItemStream();
    const inputs: Record<string, Wire[]> = {};
    for (const port of Object.keys(def.inputs)) inputs[port] = [];
    states.set(node.id, {
      node,
      def,
      params: def.params.parse(node.params),
      inputs,
      outputs,
      outputList: Object.values(outputs),
      seed: randomInt(0, 2_147_483_647 - 64),
      seedReused: false,
      status: 'queued',
      items: 0,
      failed: 0,
      running: 0,
      cancelled: 0,
      costUsd: 0,
      waitingWires: 0,
      openItemWires: 0,
      itemsIn: false,
      inFlight: 0,
      seenItems: 0,
      seen: undefined,
      skipReason: undefined,
      whole: {},
      fan: 1,
      groups: undefined,
      join: undefined,
      openGroups: 0,
      ended: false,
    });
  }
  for (const e of pipeline.edges) states.get(e.target)!.inputs[e.targetHandle].push({ source: e.source, port: e.sourceHandle });
  if (options.tasks?.nodeSeed) {
    for (const s of states.values()) {
      const got = await options.tasks.nodeSeed(runId, s.node.id, s.seed);
      s.seed = got.seed;
      s.seedReused = got.reused;
    }
  }
  const seeds = Object.fromEntries([...states.values()].filter((s) => s.def.usesProvider).map((s) => [s.node.id, s.seed]));
  const emit = (e: RunEvent) => options.onEvent?.(e);
  const provenance = { ...(pipeline.name ? { name: pipeline.name } : {}), document: pipeline, seeds };
  const plan = planBatch(pipeline, { registry: options.registry, inputs: options.inputs !== undefined });
  expectConsumers(states, plan);
  const feeds = new Map<string, RowFeed>();
  const readers = new Map<string, number>();
  for (const p of plan.values()) if (p.feed) readers.set(p.feed, (readers.get(p.feed) ?? 0) + 1);
  for (const [id, count] of readers) {
    feeds.set(id, new RowFeed(id, rowsOf(id, states, options, variables, signal), count, options.rowWindow ?? DEFAULT_ROW_WINDOW, signal));
  }
  // A product numbers its rows as (a - 1) × |B| + b: it needs the sizes of the sources it crosses.
  const feedSizes = new Map<string, number>();
  for (const p of plan.values()) {
    if (p.combine !== 'product') continue;
    for (const id of p.free) {
      if (feedSizes.has(id)) continue;
      let count = id === INPUTS_SOURCE && options.inputs?.count !== undefined ? options.inputs.count : 0;
      if (!count) for await (const _ of rowsOf(id, states, options, variables, signal)()) count++;
      feedSizes.set(id, count);
    }
  }
  return {
    runId,
    pipeline,
    options,
    signal,
    startedAt,
    variables,
    seeds,
    provenance,
    warningsByNode,
    summary,
    lanes,
    calls,
    states,
    emit,
    plan,
    feeds,
    feedSizes,
    nodesLeft: states.size,
    allEnded: () => undefined,
  };
}

export const DEFAULT_ROW_WINDOW = 256;

/**
 * Tells each output stream who consumes it: a per-item input (`eachItemOf`) or a row-bound one
 * subscribes (`follow`); any other input reads every item once the stream closes.
 */
function expectConsumers(states: Map<string, NodeState>, plan: BatchPlan): void {
  const followers = new Map<ItemStream, number>();
  const whole = new Set<ItemStream>();
  for (const s of states.values()) {
    const bound = new Set([...(plan.get(s.node.id)?.bound.values() ?? [])].flat());
    for (const port in s.inputs) {
      for (const w of s.inputs[port]) {
        const stream = states.get(w.source)!.outputs[w.port];
        if (port === s.def.eachItemOf || bound.has(port)) followers.set(stream, (followers.get(stream) ?? 0) + 1);
        else whole.add(stream);
      }
    }
  }
  for (const s of states.values()) for (const stream of s.outputList) stream.expect(followers.get(stream) ?? 0, whole.has(stream));
}

/** The rows of a row source, read anew each time it is called (a `rowLimit` keeps the first N). */
function rowsOf(id: string, states: Map<string, NodeState>, options: RunOptions, variables: Record<string, string>, signal: AbortSignal): () => AsyncIterable<Row> {
  const source = (): AsyncIterable<Row> => {
    if (id === INPUTS_SOURCE) return options.inputs!.rows();
    const s = states.get(id)!;
    return s.def.rowSource!.rows(s.params as never, { variables, baseDir: options.baseDir, signal });
  };
  const limit = options.rowLimit;
  if (limit === undefined) return source;
  return async function* () {
    if (limit <= 0) return;
    let taken = 0;
    for await (const row of source()) {
      yield row;
      if (++taken >= limit) return;
    }
  };
}

/**
 * The pre-flight's result for the part of the document being run (`only`). A part of a valid
 * document is valid (it keeps every node upstream of what it keeps, so every kept input stays
 * connected), and its warnings are those of its nodes.
 */
function forPart(checked: ValidationResult, part: Pipeline): ValidationResult {
  if (!checked.ok || part === checked.pipeline) return checked;
  const kept = new Set(part.nodes.map((n) => n.id));
  return { ok: true, pipeline: part, issues: checked.issues.filter((i) => !i.nodeId || kept.has(i.nodeId)) };
}
