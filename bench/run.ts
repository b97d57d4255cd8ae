/**
 * `npm run bench`: every figure of issue 11 beside its target, as one table (bench/table.ts).
 *
 * - Engine throughput (bench/engine-throughput.ts), the emulator in a child process so the CPU is
 *   the engine's own: the headline run without save-image, the same with save-image and the
 *   ledger as `fluxgraph run` records it, 10,000 calls (makespan and memory against 1,000), the
 *   same with the embedded emulator in this process, and a run without callbacks.
 * - Passthrough nodes (bench/passthrough.ts), CLI start (bench/cli-start.ts), the editor
 *   (bench/editor-open.ts) and team mode (bench/team.ts), each when its file is there.
 *
 * Budget: under 10 minutes on 2 cores; sections that would not fit are skipped and say so.
 */
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { benchEngineThroughput, formatResult, type BenchOptions, type Result } from './engine-throughput';
import { failedRow, formatTable, info, judged, skippedRow, type BenchRow } from './table';

const BUDGET_MS = 540_000;
const started = performance.now();
const elapsed = () => performance.now() - started;
const log = (line: string) => console.error(`[${(elapsed() / 1000).toFixed(1)} s] ${line}`);
const rows: BenchRow[] = [];
const MB = (n: number) => `${n.toFixed(1)} MB`;

/** One engine run: its options, and whether enough budget is left to start it. */
interface EngineRun {
  label: string;
  opts: BenchOptions;
  /** Expected duration, ms: skipped when it would not fit in the budget. */
  expectMs: number;
  rows(r: Result): BenchRow[];
}

const conditions = (r: Result, calls = r.main.calls) => `${calls.toLocaleString('en')} calls, ${r.latencyMs} ms latency, cap ${r.cap}`;
const ratio = (r: Result, calls: number) => judged(`makespan ÷ lower bound (${conditions(r, calls)})`, `${r.main.ratio}`, '≤ 1.03', r.main.ratio <= 1.03, `${r.main.makespanMs} / ${r.main.lowerBoundMs} ms`);
const cpuPerCall = (r: Result, what: string, target: number) =>
  judged(`engine CPU per provider call, ${what} (${conditions(r)})`, `${r.main.cpuPerCallMs} ms`, `≤ ${target.toFixed(1)} ms`, r.main.cpuPerCallMs <= target, `${Math.round(100 * r.main.cpuCoreShare)}% of a core; machine: load ${r.main.loadAvg}, a busy loop got ${r.main.cpuAvailable} of a core`);
const hold = (r: Result, target?: number) => {
  const x = r.main.laneHold.mean / r.latencyMs;
  const value = `${x.toFixed(3)} × latency`;
  const note = `${r.main.laneHold.mean} ms mean, p95 ${r.main.laneHold.p95} ms, for ${r.latencyMs} ms (submit and download included)`;
  return target ? judged(`lane-slot hold, ${r.callbacks ? 'callbacks on' : 'no callbacks'} (${conditions(r)})`, value, `≤ ${target} × latency`, x <= target, note) : info(`lane-slot hold, callbacks on (${conditions(r)})`, value, note);
};
const polls = (r: Result, target: number) =>
  judged(`status requests per task, callbacks ${r.callbacks ? 'on (verified, BFL)' : 'off'} (${conditions(r)})`, `${r.main.pollsPerCall}`, target === 0 ? '0' : `≤ ${target}`, r.main.pollsPerCall <= target, `${r.main.requests.poll} status requests for ${r.main.calls} tasks`);
const memory = (r: Result, where: string) => {
  const s = r.small!;
  const m = r.main;
  const heap = m.liveHeapMB / s.liveHeapMB;
  const ext = m.liveExternalMB / Math.max(s.liveExternalMB, 0.1);
  const limit = `--max-old-space-size ${Math.round(getHeapStatistics().heap_size_limit / 1024 / 1024)} MB for both`;
  return [
    judged(
      `live heap after forced GC, ${m.calls.toLocaleString('en')} ÷ ${s.calls.toLocaleString('en')} images (${where})`,
      `${heap.toFixed(2)}×`,
      '≤ 1.2×',
      heap <= 1.2,
      `${MB(m.liveHeapMB)} vs ${MB(s.liveHeapMB)}; peak RSS ${MB(m.peakRssMB)} vs ${MB(s.peakRssMB)}; ${limit}`,
    ),
    judged(`external (Buffer) memory after forced GC, ${m.calls.toLocaleString('en')} ÷ ${s.calls.toLocaleString('en')} images (${where})`, `${ext.toFixed(2)}×`, '≤ 1.2×', ext <= 1.2, `${MB(m.liveExternalMB)} vs ${MB(s.liveExternalMB)}`),
  ];
};

const ENGINE_RUNS: EngineRun[] = [
  {
    label: 'headline: no save-image',
    opts: { calls: 2048, latencyMs: 1000, cap: 50, callbacks: true, save: false, smallCalls: 0, pollSettings: {} },
    expectMs: 50_000,
    rows: (r) => [cpuPerCall(r, 'no save-image (adapter, scheduler, store)', 1.0), ratio(r, 2048), polls(r, 0), hold(r)],
  },
  {
    label: 'save-image and the ledger, as the CLI runs',
    opts: { calls: 2048, latencyMs: 1000, cap: 50, callbacks: true, save: true, ledger: true, smallCalls: 0, pollSettings: {} },
    expectMs: 50_000,
    rows: (r) => [cpuPerCall(r, 'with save-image and the ledger', 2.0)],
  },
  {
    label: '10,000 calls (memory against 1,000)',
    opts: { calls: 10_000, latencyMs: 1000, cap: 200, callbacks: true, save: false, smallCalls: 1000, pollSettings: {} },
    expectMs: 65_000,
    rows: (r) => [ratio(r, 10_000), ...memory(r, 'emulator in a child process'), cpuPerCall(r, 'no save-image', 1.0)],
  },
  {
    label: '10,000 calls with the embedded emulator',
    opts: { calls: 10_000, latencyMs: 1000, cap: 200, callbacks: true, save: false, smallCalls: 1000, embedded: true, pollSettings: {} },
    expectMs: 70_000,
    rows: (r) => memory(r, 'embedded emulator, rendering on its worker thread'),
  },
  {
    label: 'no callbacks, steady latency',
    opts: { calls: 600, latencyMs: 1000, cap: 50, callbacks: false, save: false, smallCalls: 0, pollSettings: {} },
    expectMs: 20_000,
    rows: (r) => [polls(r, 1.5), hold(r, 1.05)],
  },
];

async function engineSection(): Promise<void> {
  for (const run of ENGINE_RUNS) {
    if (elapsed() + run.expectMs > BUDGET_MS) {
      rows.push(skippedRow(`engine: ${run.label}`, 'not enough time left in the 10-minute budget'));
      continue;
    }
    try {
      log(`engine: ${run.label}`);
      const r = await benchEngineThroughput({ ...run.opts, log });
      console.log(`engine: ${run.label}`);
      console.log(formatResult(r));
      console.log('');
      rows.push(...run.rows(r));
    } catch (e) {
      console.error(`engine run "${run.label}" failed:`, e);
      rows.push(failedRow(`engine: ${run.label}`, e));
    }
  }
}

/** Imports a sibling benchmark when it exists. */
async function sibling(file: string): Promise<Record<string, unknown> | undefined> {
  const path = fileURLToPath(new URL(file, import.meta.url));
  if (!existsSync(path)) return undefined;
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}

async function passthroughSection(): Promise<void> {
  const mod = await sibling('./passthrough.ts');
  if (!mod || typeof mod.passthroughFigures !== 'function') return void rows.push(skippedRow('passthrough nodes', 'bench/passthrough.ts is not there'));
  try {
    log('passthrough: bench/passthrough.ts');
    const figures = (await (mod.passthroughFigures as (l: typeof log) => Promise<{ name: string; figure: string; target: string; ok: boolean }[]>)(log)) ?? [];
    for (const f of figures) rows.push(judged(f.name, f.figure, f.target, f.ok));
  } catch (e) {
    rows.push(failedRow('passthrough nodes', e));
  }
}

async function cliStartSection(): Promise<void> {
  const mod = await sibling('./cli-start.ts');
  if (!mod || typeof mod.measureCliStart !== 'function') return void rows.push(skippedRow('CLI start', 'bench/cli-start.ts is not there'));
  try {
    log('CLI start: bench/cli-start.ts');
    const r = (mod.measureCliStart as (o: { log: typeof log }) => { figures: { what: string; medianMs: number; minMs: number; targetMs?: number; runs: number }[]; loadAvg: number })({ log });
    const base = r.figures.find((f) => f.targetMs === undefined);
    for (const f of r.figures) {
      const note = `median of ${f.runs}, min ${f.minMs} ms${base && f !== base ? `; node -e 0: ${base.medianMs} ms` : ''}; load ${r.loadAvg}`;
      rows.push(f.targetMs ? judged(`CLI start: ${f.what}`, `${f.medianMs} ms`, `≤ ${f.targetMs} ms`, f.medianMs <= f.targetMs, note) : info(`CLI start: ${f.what}`, `${f.medianMs} ms`, note));
    }
  } catch (e) {
    rows.push(failedRow('CLI start', e));
  }
}

async function editorSection(): Promise<void> {
  const mod = await sibling('./editor-open.ts');
  const fn = mod && (mod.measureEditorOpen ?? mod.default);
  if (typeof fn !== 'function') return void rows.push(skippedRow('editor open and pan', 'bench/editor-open.ts is not there'));
  if (elapsed() > BUDGET_MS - 60_000) return void rows.push(skippedRow('editor open and pan', 'not enough time left in the 10-minute budget'));
  try {
    log('editor: bench/editor-open.ts');
    const out = (await (fn as (o: { nodes: number; log: typeof log }) => Promise<Record<string, unknown>>)({ nodes: 2000, log })) ?? {};
    const rowsFrom = out.rows;
    if (Array.isArray(rowsFrom)) rows.push(...(rowsFrom as BenchRow[]));
    else {
      const n = String(out.nodes ?? '?');
      rows.push(info(`editor: open a ${n}-node pipeline`, `${String(out.openMedianMs)} ms median`, Array.isArray(out.openRunsMs) ? `runs ${out.openRunsMs.join(', ')} ms; ${String(out.browser ?? '')}` : undefined));
      if (typeof out.panMeanFps === 'number') rows.push(info(`editor: pan at ${n} nodes`, `${out.panMeanFps} fps`, `p95 frame ${String(out.panP95FrameMs)} ms`));
    }
  } catch (e) {
    rows.push(failedRow('editor open and pan', e));
  }
}

async function teamSection(): Promise<void> {
  const mod = await sibling('./team.ts');
  if (!mod || typeof mod.benchTeam !== 'function') return void rows.push(skippedRow('team mode', 'bench/team.ts is not there'));
  if (elapsed() > BUDGET_MS - 150_000) return void rows.push(skippedRow('team mode', 'not enough time left in the 10-minute budget (run alone: npx tsx bench/team.ts)'));
  try {
    log('team mode: bench/team.ts');
    const r = (await (mod.benchTeam as () => Promise<Record<string, unknown>>)()) as {
      calls: number; latencyMs: number; capPerAccount: number; accounts: number; workers: number; makespanMs: number; lowerBoundMs: number; ratio: number; peakActive: Record<string, number>; duplicates: number; failures: number;
    };
    const what = `${r.calls.toLocaleString('en')} calls, ${r.workers} workers, ${r.accounts} accounts × cap ${r.capPerAccount}, ${r.latencyMs} ms latency`;
    rows.push(info(`team mode: makespan ÷ lower bound (${what})`, `${r.ratio}`, `${r.makespanMs} / ${r.lowerBoundMs} ms; ${r.failures} failures`));
    const peaks = Object.values(r.peakActive);
    rows.push(judged(`team mode: peak active tasks per account (${what})`, peaks.join(', '), `≤ ${r.capPerAccount}`, peaks.every((p) => p <= r.capPerAccount)));
    rows.push(judged('team mode: requests paid twice', `${r.duplicates}`, '0', r.duplicates === 0));
  } catch (e) {
    rows.push(failedRow('team mode', e));
  }
}

/** Batches (bench/batch.ts): 10,000 rows against 1,000, each batch in a fresh process. */
async function batchSection(): Promise<void> {
  const mod = await sibling('./batch.ts');
  if (!mod || typeof mod.benchBatch !== 'function') return void rows.push(skippedRow('batch rows', 'bench/batch.ts is not there'));
  if (elapsed() > BUDGET_MS - 100_000) return void rows.push(skippedRow('batch rows', 'not enough time left in the 10-minute budget (run alone: npx tsx bench/batch.ts)'));
  try {
    log('batch rows: bench/batch.ts');
    const b = (await (mod.benchBatch as (o: { log: typeof log }) => Promise<unknown>)({ log })) as {
      rssRatio: number; makespanRatio: number;
      small: { peakRssMB: number }; large: { peakRssMB: number; makespanMs: number; lowerBoundMs: number; firstSubmitMs: number };
    };
    rows.push(judged('batch: peak RSS, 10,000 ÷ 1,000 rows', `${b.rssRatio}`, '≤ 1.2', b.rssRatio <= 1.2, `${b.small.peakRssMB} → ${b.large.peakRssMB} MB`));
    rows.push(
      judged('batch: makespan ÷ lower bound, 10,000 rows', `${b.makespanRatio}`, '≤ 1.05', b.makespanRatio <= 1.05, `${b.large.makespanMs} / ${b.large.lowerBoundMs} ms, first submit after ${b.large.firstSubmitMs} ms`),
    );
  } catch (e) {
    rows.push(failedRow('batch rows', e));
  }
}

async function main(): Promise<void> {
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`fluxgraph bench — node ${process.version}, ${cpus().length} cores, load average ${load}`);
  console.log('');
  rows.push(info('machine at the start', `load ${load}`, `${cpus().length} cores; figures under other load are pessimistic`));
  await engineSection();
  await passthroughSection();
  await cliStartSection();
  await editorSection();
  await teamSection();
  await batchSection();
  console.log('summary');
  console.log(formatTable(rows));
  console.log(`\ntotal ${(elapsed() / 1000).toFixed(1)} s; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  process.exitCode = rows.some((r) => r.verdict === 'failed') ? 1 : 0;
}

main()
  .catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  })
  // An imported benchmark may leave handles open (a browser, a server): end here regardless.
  .finally(() => process.exit(process.exitCode ?? 0));
