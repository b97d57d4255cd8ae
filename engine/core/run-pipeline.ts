/**
 * The streaming scheduler (design.md 1.5). Every node waits for its whole inputs, then runs once
 * per item of its `eachItemOf` input as each item arrives (times its fan-out), so a refine of
 * draft 1 starts while draft 3 is still generating. It never branches on node type: everything
 * it needs is in the node declarations.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { AnyNodeDefinition, NodeContext } from './define-node';
import { EngineError, isAbortError, nodeLabel, toEngineError } from './errors';
import type { ItemValue, NodeStatus, RunEvent, RunSummary } from './events';
import { readImageInfo } from './image-info';
import { ItemStream, type StreamItem } from './item-stream';
import { Lanes } from './lanes';
import type { Pipeline, PipelineNode } from './pipeline-schema';
import type { ImageAsset, PortKind, PortValue } from './ports';
import { ProviderCalls } from './provider-calls';
import type { RunOptions } from './run-options';
import { validatePipeline } from './validate';

export const DEFAULT_TASK_TIMEOUT_MS = 10 * 60 * 1000;

interface Wire {
  source: string;
  port: string;
}

interface NodeState {
  node: PipelineNode;
  def: AnyNodeDefinition;
  params: unknown;
  inputs: Record<string, Wire[]>;
  outputs: Record<string, ItemStream>;
  seed: number;
  /** The seed came from an earlier run (resume, run-to-here): its requests may be reused. */
  seedReused: boolean;
  status: NodeStatus;
  started?: number;
  items: number;
  failed: number;
  running: number;
  cancelled: number;
  costUsd: number;
}

export function newRunId(): string {
  const d = new Date();
  const stamp = d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** Runs a pipeline to the end (or cancellation) and returns its summary. Throws only for an invalid pipeline. */
export async function runPipeline(doc: Pipeline, options: RunOptions): Promise<RunSummary> {
  if (options.only?.length) doc = onlyUpTo(doc, options.only);
  const variables = { ...doc.settings?.variables, ...options.variables };
  const checked = validatePipeline(doc, { registry: options.registry, providers: options.providers, provider: options.provider, variables, baseDir: options.baseDir });
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
  const emit = (e: RunEvent) => options.onEvent?.(e);

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
  const lanes = new Lanes((id) => caps[id] ?? options.providers.get(id)?.capabilities.defaultConcurrency ?? 4);
  const calls = new ProviderCalls({
    providers: options.providers,
    lanes,
    store: options.store,
    ...(options.tasks ? { tasks: options.tasks } : {}),
    taskTimeoutMs: options.taskTimeoutMs ?? (pipeline.settings?.taskTimeoutSec ? pipeline.settings.taskTimeoutSec * 1000 : DEFAULT_TASK_TIMEOUT_MS),
    defaultProvider,
    ...(options.budgetUsd !== undefined ? { budgetUsd: options.budgetUsd } : {}),
    ...(options.priceOf ? { priceOf: options.priceOf } : {}),
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
      seed: randomInt(0, 2_147_483_647 - 64),
      seedReused: false,
      status: 'queued',
      items: 0,
      failed: 0,
      running: 0,
      cancelled: 0,
      costUsd: 0,
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
  emit({ type: 'runStart', runId, at: startedAt, ...(pipeline.name ? { pipeline: pipeline.name } : {}), nodes: pipeline.nodes.map((n) => ({ id: n.id, type: n.type })) });

  const streamOf = (w: Wire) => states.get(w.source)!.outputs[w.port];
  const progress = (s: NodeState, item?: number, status?: string, fraction?: number) =>
    emit({
      type: 'nodeProgress',
      runId,
      at: Date.now(),
      nodeId: s.node.id,
      ...(item !== undefined ? { item } : {}),
      ...(status ? { status } : {}),
      ...(fraction !== undefined ? { fraction } : {}),
      itemsDone: s.items,
      itemsRunning: s.running,
    });

  const runNode = async (s: NodeState): Promise<void> => {
    const { node, def } = s;
    const wholePorts = Object.keys(def.inputs).filter((p) => p !== def.eachItemOf);
    // Whole inputs: wait for every item of every wire.
    await Promise.all(wholePorts.flatMap((p) => s.inputs[p].map((w) => streamOf(w).whenClosed())));
    const whole: Record<string, unknown> = {};
    for (const port of wholePorts) {
      const items: StreamItem[] = [];
      for (const w of s.inputs[port]) {
        const st = streamOf(w);
        if (st.brokenReason) return skipNode(s, `input "${port}" is missing: ${w.source} ${st.brokenReason}`);
        items.push(...[...st.items].sort((a, b) => a.index - b.index));
      }
      const bad = items.find((i) => !i.ok);
      if (bad && !bad.ok) return skipNode(s, `input "${port}" needs every item, and item ${bad.index} failed (${bad.reason})`);
      const values = items.map((i) => (i as Extract<StreamItem, { ok: true }>).value);
      whole[port] = def.inputs[port].multiple ? values : values[0];
    }
    if (signal.aborted && def.usesProvider) return cancelNode(s);

    const fan = Math.max(0, def.fanOut?.(s.params as never) ?? 1);
    const pending: Promise<void>[] = [];
    const start = () => {
      if (s.status === 'queued') {
        s.status = 'running';
        s.started = Date.now();
        emit({ type: 'nodeStart', runId, at: s.started, nodeId: node.id });
      }
    };

    const invoke = (inputItem: StreamItem | undefined) => {
      for (let f = 0; f < fan; f++) {
        const item = inputItem ? inputItem.index * fan + f : f;
        if (inputItem && !inputItem.ok) {
          s.failed++;
          const reason = `input item ${inputItem.index} failed upstream (${inputItem.reason})`;
          summary.skipped.push({ nodeId: node.id, item, reason });
          emit({ type: 'nodeSkipped', runId, at: Date.now(), nodeId: node.id, item, reason });
          for (const out of Object.values(s.outputs)) out.push({ index: item, ok: false, reason: `skipped: ${reason}` });
          continue;
        }
        start();
        pending.push(invokeOnce(s, whole, inputItem, f, item));
      }
    };

    if (def.eachItemOf) {
      const wires = s.inputs[def.eachItemOf];
      // Several wires into one list interleave (a0, b0, a1, b1, ...): indices stay unique and do
      // not depend on which item happens to arrive first. One wire keeps its indices as they are.
      const mapIndex = (i: StreamItem, wire: number) => (wires.length === 1 ? i : { ...i, index: i.index * wires.length + wire });
      const seen: number[] = [];
      await Promise.all(
        wires.map(
          (w, wire) =>
            new Promise<void>((resolve) => {
              streamOf(w).follow((i) => {
                if (i === 'closed') return resolve();
                const mapped = mapIndex(i, wire);
                seen.push(mapped.index);
                invoke(mapped);
              });
            }),
        ),
      );
      const broken = wires.map((w) => streamOf(w)).find((st) => st.brokenReason);
      const problem = broken ? undefined : def.afterItems?.(s.params as never, seen.sort((a, b) => a - b), wires.map((w) => `"${w.source}"`).join(' + '));
      if (problem) fail(s, undefined, new EngineError('invalid_param', `${nodeLabel(node.id, node.type)}: ${problem}`, { nodeId: node.id }));
      if (broken && seen.length === 0) {
        await Promise.all(pending);
        return skipNode(s, `input "${def.eachItemOf}" is missing: ${broken.brokenReason}`);
      }
    } else {
      invoke(undefined);
    }
    await Promise.all(pending);
    finishNode(s);
  };

  const invokeOnce = async (s: NodeState, whole: Record<string, unknown>, inputItem: StreamItem | undefined, fanIndex: number, item: number): Promise<void> => {
    const { node, def } = s;
    if (signal.aborted && def.usesProvider) {
      s.cancelled++;
      for (const out of Object.values(s.outputs)) out.push({ index: item, ok: false, reason: 'cancelled' });
      return;
    }
    s.running++;
    progress(s, item, 'running');
    const inputs = { ...whole, ...(def.eachItemOf && inputItem?.ok ? { [def.eachItemOf]: [inputItem.value] } : {}) };
    const ctx: NodeContext = {
      runId,
      nodeId: node.id,
      nodeType: node.type,
      ...(pipeline.name ? { pipelineName: pipeline.name } : {}),
      item,
      fanIndex,
      ...(inputItem ? { inputItem: inputItem.index } : {}),
      nodeSeed: s.seed,
      signal,
      store: options.store,
      baseDir: options.baseDir,
      outDir: options.outDir,
      variables,
      pipeline: { ...(pipeline.name ? { name: pipeline.name } : {}), document: pipeline, seeds },
      generate: async (request, opts) => {
        summary.providerCalls++;
        const asset = await calls.generate(request, opts?.provider, {
          runId,
          nodeId: node.id,
          nodeType: node.type,
          nodeVersion: def.version,
          cacheable: opts?.cacheable === true || s.seedReused,
          item,
          signal,
          onStatus: (status, fraction) => progress(s, item, opts?.label ? `${opts.label}: ${status}` : status, fraction),
          onWarning: (message) => ctx.warn(message),
        });
        const warnings = [...(warningsByNode.get(node.id) ?? []), ...(asset.meta?.warnings ?? [])];
        return { ...asset, meta: { ...asset.meta, ...(warnings.length ? { warnings } : {}) } };
      },
      putImage: async (bytes, meta) => {
        const info = readImageInfo(bytes);
        if (!info) throw new EngineError('invalid_input', 'not a JPEG, PNG or WebP image');
        const hash = await options.store.put(bytes);
        return { hash, ...info, meta: { nodeId: node.id, ...meta } };
      },
      fileWritten: (path, sidecar) => {
        summary.imagesWritten.push(path);
        emit({ type: 'fileWritten', runId, at: Date.now(), nodeId: node.id, item, path, sidecar });
      },
      warn: (message) => {
        summary.warnings.push({ nodeId: node.id, message });
        emit({ type: 'warning', runId, at: Date.now(), nodeId: node.id, message });
      },
      progress: (status, fraction) => progress(s, item, status, fraction),
    };
    try {
      const result = await def.run({ inputs: inputs as never, params: s.params as never, ctx });
      s.running--;
      s.items++;
      if (result) {
        for (const [port, value] of Object.entries(result)) {
          if (value === undefined || !s.outputs[port]) continue;
          const v = value as PortValue<PortKind>;
          s.outputs[port].push({ index: item, ok: true, value: v });
          if (typeof v === 'object' && v.meta?.nodeId === node.id && v.meta.cached) summary.cached = (summary.cached ?? 0) + 1;
          // Cost belongs to the node that paid for the image, not to those it passes through.
          const cost = typeof v === 'object' && v.meta?.nodeId === node.id && !v.meta.cached ? v.meta.costUsd : undefined;
          if (cost) {
            s.costUsd += cost;
            summary.costUsd += cost;
          }
          emit({
            type: 'itemDone',
            runId,
            at: Date.now(),
            nodeId: node.id,
            item,
            port,
            value: toItemValue(def.outputs[port].kind, v),
            ...(cost ? { costUsd: cost } : {}),
            ...(typeof v === 'object' && v.meta?.cached ? { cached: true } : {}),
          });
        }
      }
      progress(s, item, 'done');
    } catch (e) {
      s.running--;
      const err = toEngineError(e, 'internal', { nodeId: node.id, item });
      const reason = isAbortError(err) ? 'cancelled' : err.message;
      for (const out of Object.values(s.outputs)) out.push({ index: item, ok: false, reason });
      if (isAbortError(err)) {
        s.cancelled++;
        return;
      }
      fail(s, item, err);
    }
  };

  const fail = (s: NodeState, item: number | undefined, err: EngineError) => {
    s.failed++;
    const message = err.message.startsWith('node "') ? err.message : `${nodeLabel(s.node.id, s.node.type)}${item !== undefined ? ` item ${item}` : ''}: ${err.message}`;
    const rec = {
      nodeId: s.node.id,
      ...(item !== undefined ? { item } : {}),
      code: err.code,
      message,
      ...(err.details.provider ? { provider: String(err.details.provider) } : {}),
      ...(err.details.taskId ? { taskId: String(err.details.taskId) } : {}),
    };
    summary.failures.push(rec);
    emit({ type: 'nodeError', runId, at: Date.now(), ...rec });
  };

  const skipNode = (s: NodeState, reason: string) => {
    s.status = 'skipped';
    summary.skipped.push({ nodeId: s.node.id, reason });
    emit({ type: 'nodeSkipped', runId, at: Date.now(), nodeId: s.node.id, reason });
    for (const out of Object.values(s.outputs)) out.close(`was skipped (${reason})`);
    emitNodeDone(s);
  };

  const cancelNode = (s: NodeState) => {
    s.status = 'cancelled';
    for (const out of Object.values(s.outputs)) out.close('was cancelled');
    emitNodeDone(s);
  };

  const finishNode = (s: NodeState) => {
    s.status = s.cancelled > 0 ? 'cancelled' : s.failed === 0 ? 'done' : s.items === 0 ? 'failed' : 'partial';
    for (const out of Object.values(s.outputs)) out.close(s.status === 'failed' ? 'failed' : undefined);
    emitNodeDone(s);
  };

  const emitNodeDone = (s: NodeState) => {
    const elapsedMs = s.started ? Date.now() - s.started : 0;
    summary.nodes[s.node.id] = { status: s.status, items: s.items, failed: s.failed, elapsedMs, costUsd: s.costUsd };
    emit({ type: 'nodeDone', runId, at: Date.now(), nodeId: s.node.id, status: s.status, items: s.items, failed: s.failed, elapsedMs });
  };

  try {
    await Promise.all([...states.values()].map((s) => runNode(s).catch((e) => {
      // A bug in a node's bookkeeping must not hang the run: report it on the node.
      fail(s, undefined, toEngineError(e, 'internal', { nodeId: s.node.id }));
      for (const out of Object.values(s.outputs)) out.close('failed');
    })));
  } finally {
    lanes.close();
  }

  summary.elapsedMs = Date.now() - startedAt;
  summary.status = signal.aborted ? 'cancelled' : summary.failures.length === 0 && summary.skipped.length === 0 ? 'done' : Object.values(summary.nodes).some((n) => n.items > 0) ? 'partial' : 'failed';
  emit({ type: 'runDone', runId, at: Date.now(), summary });
  return summary;
}

/** The nodes listed and everything they depend on, with the edges between them. */
export function onlyUpTo(doc: Pipeline, targets: readonly string[]): Pipeline {
  for (const id of targets) {
    if (!doc.nodes.some((n) => n.id === id)) {
      throw new EngineError('unknown_node', `cannot run up to node "${id}": no such node (nodes: ${doc.nodes.map((n) => n.id).join(', ')})`, { nodeId: id });
    }
  }
  const keep = new Set<string>();
  const todo = [...targets];
  while (todo.length) {
    const id = todo.pop()!;
    if (keep.has(id)) continue;
    keep.add(id);
    for (const e of doc.edges) if (e.target === id) todo.push(e.source);
  }
  return { ...doc, nodes: doc.nodes.filter((n) => keep.has(n.id)), edges: doc.edges.filter((e) => keep.has(e.source) && keep.has(e.target)) };
}

function toItemValue(kind: PortKind, v: PortValue<PortKind>): ItemValue {
  return kind === 'text' ? { kind: 'text', text: v as string } : { kind: 'image', image: v as ImageAsset };
}
