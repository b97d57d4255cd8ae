/**
 * Scheduler overhead: passthrough graphs through the library, with no provider and no store work,
 * so what is measured is the engine's own cost per node (issue 11: ≤ 15 µs of run-phase CPU per
 * passthrough node at 2,000 nodes, fan-out and chain; setup and validation linear).
 *
 * - fan-out: one prompt → N passthrough nodes, each reading the prompt.
 * - chain: prompt → p1 → p2 → … → pN.
 *
 * Each passthrough node runs once per item of its input (`eachItemOf`) and passes the text on.
 * Run-phase CPU is `process.cpuUsage()` (user + system) from the `runStart` event to the summary;
 * setup is the CPU from the `runPipeline` call to `runStart` (its validation and building the
 * run); validation alone is `validatePipeline` on the same document. CPU, not wall time, so a
 * busy machine inflates the figures less. Each figure is the median of several runs after a
 * warm-up.
 *
 * For the bench table: `passthroughFigures()` returns the rows. Run alone:
 * `npx tsx bench/passthrough.ts [nodes...]` (default 500 2000, plus a 100,000-node chain).
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { defineNode } from '../engine/core/define-node';
import type { Pipeline } from '../engine/core/pipeline-schema';
import type { ProviderSet } from '../engine/core/provider';
import { NodeRegistry } from '../engine/core/registry';
import { runPipeline } from '../engine/core/run-pipeline';
import type { ArtifactStore } from '../engine/core/store';
import { validatePipeline } from '../engine/core/validate';
import { createRegistry } from '../nodes';

export type PassthroughShape = 'fan-out' | 'chain';

const passthroughNode = defineNode({
  type: 'bench-passthrough',
  title: 'Passthrough',
  description: 'Passes its text on (benchmark only).',
  version: 1,
  category: 'select',
  inputs: { text: { kind: 'text', required: true } },
  outputs: { text: { kind: 'text' } },
  params: z.strictObject({}),
  eachItemOf: 'text',
  async run({ inputs }) {
    return { text: inputs.text[0] };
  },
});

function benchRegistry(): NodeRegistry {
  return new NodeRegistry([...createRegistry().all(), passthroughNode as never]);
}

const noProviders: ProviderSet = { get: () => undefined, ids: () => [], defaultId: 'none' };
const noStore: ArtifactStore = {
  put: async () => {
    throw new Error('the passthrough bench stores nothing');
  },
  read: async () => {
    throw new Error('the passthrough bench stores nothing');
  },
} as unknown as ArtifactStore;

export function passthroughPipeline(shape: PassthroughShape, nodes: number): Pipeline {
  const list: Pipeline['nodes'] = [{ id: 'src', type: 'prompt', params: { text: 'a fox' } }];
  const edges: Pipeline['edges'] = [];
  for (let i = 1; i <= nodes; i++) {
    list.push({ id: `p${i}`, type: 'bench-passthrough', params: {} });
    edges.push({ source: shape === 'chain' && i > 1 ? `p${i - 1}` : 'src', sourceHandle: 'text', target: `p${i}`, targetHandle: 'text' });
  }
  return { version: 1, name: `passthrough-${shape}-${nodes}`, nodes: list, edges } as Pipeline;
}

export interface PassthroughResult {
  shape: PassthroughShape;
  /** Passthrough nodes (the prompt source not counted). */
  nodes: number;
  /** Median run-phase CPU (user + system) per passthrough node, µs. */
  runCpuUsPerNode: number;
  /** Median wall time of the run phase, ms. */
  runWallMs: number;
  /** Median CPU from the call to `runStart` (the run's own validation + building the run), ms. */
  setupMs: number;
  /** Median CPU of `validatePipeline` alone, ms. */
  validateMs: number;
  runs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const cpuMs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};

async function once(registry: NodeRegistry, doc: Pipeline): Promise<{ cpuUs: number; wallMs: number; setupMs: number; validateMs: number }> {
  const v0 = process.cpuUsage();
  const checked = validatePipeline(doc, { registry, providers: noProviders, baseDir: process.cwd() });
  const validateMs = cpuMs(v0);
  if (!checked.ok) throw new Error(`passthrough pipeline invalid: ${checked.issues[0]?.message}`);
  let cpu0: NodeJS.CpuUsage | undefined;
  let wall0 = 0;
  let setupMs = 0;
  const called = process.cpuUsage();
  const summary = await runPipeline(doc, {
    registry,
    providers: noProviders,
    store: noStore,
    baseDir: process.cwd(),
    outDir: process.cwd(),
    onEvent: (e) => {
      if (e.type === 'runStart') {
        setupMs = cpuMs(called);
        wall0 = performance.now();
        cpu0 = process.cpuUsage();
      }
    },
  });
  const cpu = process.cpuUsage(cpu0);
  const end = performance.now();
  if (summary.status !== 'done') throw new Error(`passthrough run ended ${summary.status}`);
  return { cpuUs: cpu.user + cpu.system, wallMs: end - wall0, setupMs, validateMs };
}

export async function measurePassthrough(shape: PassthroughShape, nodes: number, runs = 9): Promise<PassthroughResult> {
  const registry = benchRegistry();
  const doc = passthroughPipeline(shape, nodes);
  await once(registry, doc); // warm-up: JIT
  const got: Awaited<ReturnType<typeof once>>[] = [];
  for (let i = 0; i < runs; i++) got.push(await once(registry, doc));
  return {
    shape,
    nodes,
    runCpuUsPerNode: median(got.map((g) => g.cpuUs / nodes)),
    runWallMs: median(got.map((g) => g.wallMs)),
    setupMs: median(got.map((g) => g.setupMs)),
    validateMs: median(got.map((g) => g.validateMs)),
    runs,
  };
}

/** One row of the bench table. */
export interface PassthroughFigure {
  name: string;
  figure: string;
  target: string;
  ok: boolean;
}

export const PASSTHROUGH_TARGET_US = 15;

/**
 * The rows for `npm run bench`: run-phase CPU per node at 2,000 nodes (fan-out and chain),
 * setup and validation CPU per node at 2,000 and 20,000 nodes (linear: about the same per node),
 * and whether a 100,000-node chain validates and runs.
 */
export async function passthroughFigures(log: (line: string) => void = () => undefined): Promise<PassthroughFigure[]> {
  const rows: PassthroughFigure[] = [];
  for (const shape of ['fan-out', 'chain'] as const) {
    const r = await measurePassthrough(shape, 2000);
    log(`passthrough ${shape} 2,000: ${r.runCpuUsPerNode.toFixed(1)} µs/node run CPU, setup ${r.setupMs.toFixed(1)} ms CPU, validate ${r.validateMs.toFixed(1)} ms CPU`);
    rows.push({ name: `passthrough ${shape}, 2,000 nodes: run-phase CPU per node`, figure: `${r.runCpuUsPerNode.toFixed(1)} µs`, target: `≤ ${PASSTHROUGH_TARGET_US} µs`, ok: r.runCpuUsPerNode <= PASSTHROUGH_TARGET_US });
    const big = await measurePassthrough(shape, 20_000, 3);
    // Linear: the CPU per node stays about the same at ten times the nodes. The algorithms are
    // linear; a larger heap still costs somewhat more per node (cache misses, GC), hence 2×.
    const perNode = (ms: number, n: number) => (1000 * ms) / n;
    const setup = [perNode(r.setupMs, 2000), perNode(big.setupMs, 20_000)];
    const check = [perNode(r.validateMs, 2000), perNode(big.validateMs, 20_000)];
    log(`passthrough ${shape} 20,000: ${big.runCpuUsPerNode.toFixed(1)} µs/node run CPU, setup ${big.setupMs.toFixed(1)} ms CPU, validate ${big.validateMs.toFixed(1)} ms CPU`);
    rows.push({
      name: `passthrough ${shape}: setup, validation per node at 2,000 → 20,000 nodes`,
      figure: `setup ${setup[0].toFixed(1)} → ${setup[1].toFixed(1)} µs, validate ${check[0].toFixed(1)} → ${check[1].toFixed(1)} µs (CPU)`,
      target: 'linear (≤ 2× per node)',
      ok: setup[1] <= 2 * setup[0] && check[1] <= 2 * check[0],
    });
  }
  let chainOk = false;
  let detail = '';
  try {
    const r = await measurePassthrough('chain', 100_000, 1);
    chainOk = true;
    detail = `runs: ${r.runCpuUsPerNode.toFixed(1)} µs/node, setup ${r.setupMs.toFixed(0)} ms`;
  } catch (e) {
    detail = `fails: ${(e as Error).message.split('\n')[0]}`;
  }
  log(`passthrough chain 100,000: ${detail}`);
  rows.push({ name: 'passthrough chain, 100,000 nodes', figure: detail, target: 'validates and runs', ok: chainOk });
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
  for (const n of sizes.length ? sizes : [500, 2000]) {
    for (const shape of ['fan-out', 'chain'] as const) {
      const r = await measurePassthrough(shape, n);
      console.log(`${shape.padEnd(8)} ${String(n).padStart(7)} nodes: run ${r.runCpuUsPerNode.toFixed(1).padStart(6)} µs/node CPU, ${r.runWallMs.toFixed(1)} ms wall; setup ${r.setupMs.toFixed(1)} ms CPU; validate ${r.validateMs.toFixed(1)} ms CPU`);
    }
  }
  if (!sizes.length) for (const row of await passthroughFigures()) console.log(`${row.ok ? 'ok  ' : 'MISS'} ${row.name}: ${row.figure} (target ${row.target})`);
}
