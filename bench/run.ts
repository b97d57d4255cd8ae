/**
 * `npm run bench`: engine throughput (bench/engine-throughput.ts); when bench/editor-open.ts
 * exists, the editor's open time for a 500-node pipeline; then two diagnostic throughput runs
 * (skipped when time is short). Ends with a short table. Budget: under 3 minutes on 2 cores.
 */
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchEngineThroughput, formatResult, type BenchOptions, type Result } from './engine-throughput';
import { formatCliStart, measureCliStart } from './cli-start';

const BUDGET_MS = 170_000;
const started = performance.now();
const elapsed = () => performance.now() - started;
const log = (line: string) => console.error(`[${(elapsed() / 1000).toFixed(1)} s] ${line}`);

interface Row {
  what: string;
  value: string;
  note?: string;
}
const rows: Row[] = [];

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms);
    }),
  ]);
}

function throughputRows(r: Result, label: string): void {
  const m = r.main;
  rows.push({ what: `${label}: calls`, value: `${m.calls}`, note: `${m.imagesWritten} files, ${m.failures} failures, latency ${r.latencyMs} ms, cap ${r.cap}, ${r.poll}` });
  rows.push({ what: `${label}: makespan / lower bound`, value: `${m.makespanMs} / ${m.lowerBoundMs} ms` });
  rows.push({ what: `${label}: ratio`, value: `${m.ratio}`, note: m.ratio <= 1.05 ? 'target ≤ 1.05 met' : 'target ≤ 1.05 missed (see findings)' });
  rows.push({ what: `${label}: engine CPU per node invocation`, value: `${m.cpuPerInvocationMs} ms`, note: `${m.cpuPerCallMs} ms per call, ${Math.round(100 * m.cpuCoreShare)}% of a core` });
  rows.push({ what: `${label}: lane hold per call`, value: `${m.laneHold.mean} ms`, note: `latency ${r.latencyMs} ms; loop delay p99 ${m.loopDelay.p99} ms` });
}

/** Diagnostic runs after the main ones, each skipped when the budget is short. */
const DIAGNOSES: { label: string; opts: BenchOptions; startBy: number }[] = [
  {
    // Saturation: 200 calls/s (250 ms latency, cap 50) with polling only. The engine's main
    // thread runs out of CPU here; this shows where that limit is and what a call costs.
    label: 'saturation (250 ms latency, polling every 20 ms, no callbacks)',
    opts: { latencyMs: 250, pollMs: 20, callbacks: false, smallCalls: 0 },
    startBy: 120_000,
  },
  {
    // The engine's default poll schedule at a 2 s provider latency, without callbacks: what a
    // host without a public callback URL sees against a real API.
    label: 'default poll schedule, 2 s latency',
    opts: { calls: 200, latencyMs: 2000, pollSettings: {}, smallCalls: 0 },
    startBy: 140_000,
  },
];

/**
 * The headline run: 2,048 calls at a fixed 1 s latency and a lane cap of 50 (50 calls/s), with
 * completion callbacks as the embedded emulator uses them and polling every 100 ms as fallback.
 */
const MAIN: BenchOptions = { calls: 2048, latencyMs: 1000, cap: 50, pollMs: 100, callbacks: true };

async function main(): Promise<void> {
  console.log(`fluxgraph bench — node ${process.version}, ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log('');

  let failed = false;
  try {
    const r = await benchEngineThroughput({ ...MAIN, log });
    console.log(formatResult(r));
    console.log('');
    throughputRows(r, 'engine');
    const s = r.small;
    if (s) {
      rows.push({
        what: 'engine: peak RSS / peak heap',
        value: `${s.peakRssMB} / ${s.peakHeapMB} MB at ${s.calls}; ${r.main.peakRssMB} / ${r.main.peakHeapMB} MB at ${r.main.calls}`,
        note: 'sampled every 50 ms; mostly uncollected garbage',
      });
      rows.push({
        what: 'engine: live heap growth',
        value: `+${(s.liveHeapMB - s.baseHeapMB).toFixed(1)} MB at ${s.calls}; +${(r.main.liveHeapMB - r.main.baseHeapMB).toFixed(1)} MB at ${r.main.calls}`,
        note: 'full GC at 90% done, over the pre-run baseline',
      });
    }
    const busy = r.main.cpuAvailable < 0.9 || r.main.loadAvg > cpus().length;
    rows.push({
      what: 'engine: machine during the main run',
      value: `load ${r.main.loadAvg}`,
      note: `a busy loop got ${r.main.cpuAvailable} of a core (1 = idle machine)${busy ? ' — OTHER LOAD: times and ratio are inflated, rerun on a quiet machine' : ''}`,
    });
  } catch (e) {
    failed = true;
    console.error('engine throughput benchmark failed:', e);
    rows.push({ what: 'engine throughput', value: 'FAILED', note: e instanceof Error ? e.message : String(e) });
  }

  const editorBench = fileURLToPath(new URL('./editor-open.ts', import.meta.url));
  if (existsSync(editorBench)) {
    try {
      log('editor open: running bench/editor-open.ts');
      const mod = (await import(pathToFileURL(editorBench).href)) as Record<string, unknown>;
      const fns = Object.entries(mod).filter((e): e is [string, (...a: unknown[]) => unknown] => typeof e[1] === 'function');
      // Its measuring function: measureEditorOpen today; otherwise the default export or a name like it.
      const pick =
        fns.find(([n]) => n === 'measureEditorOpen') ?? fns.find(([n]) => n === 'default') ?? fns.find(([n]) => /^(measure|bench).*(editor|open)/i.test(n));
      if (!pick) throw new Error(`bench/editor-open.ts exports no measuring function (exports: ${Object.keys(mod).join(', ')})`);
      const budget = Math.max(30_000, BUDGET_MS - elapsed());
      const out = await withTimeout(Promise.resolve(pick[1]({ log })), budget, `editor-open (${pick[0]})`);
      console.log(`editor open (${pick[0]}):`);
      console.log(typeof out === 'string' ? out : JSON.stringify(out, null, 2));
      console.log('');
      rows.push({ what: 'editor: open a 500-node pipeline', ...summarizeEditor(out) });
    } catch (e) {
      console.error('editor-open benchmark failed:', e);
      rows.push({ what: 'editor: open a 500-node pipeline', value: 'FAILED', note: e instanceof Error ? e.message : String(e) });
    }
  } else {
    rows.push({ what: 'editor: open a 500-node pipeline', value: 'not run', note: 'bench/editor-open.ts does not exist yet' });
  }

  try {
    log('cli start: bench/cli-start.ts');
    const start = measureCliStart({ log });
    console.log(formatCliStart(start));
    console.log('');
    const node = start.figures.find((f) => f.what === 'node -e 0');
    for (const f of start.figures.filter((x) => x.targetMs !== undefined)) {
      rows.push({
        what: `cli start: ${f.what}`,
        value: `${f.medianMs} ms`,
        note: `target ≤ ${f.targetMs} ms ${f.medianMs <= f.targetMs! ? 'met' : 'missed'}; node -e 0 ${node?.medianMs} ms; CPU ${f.cpuMs ?? '?'} ms (node -e 0: ${node?.cpuMs ?? '?'}); median of ${f.runs}, load ${start.loadAvg}`,
      });
    }
  } catch (e) {
    console.error('cli start benchmark failed:', e);
    rows.push({ what: 'cli start', value: 'FAILED', note: e instanceof Error ? e.message : String(e) });
  }

  for (const d of DIAGNOSES) {
    if (failed) break;
    if (elapsed() > d.startBy) {
      log(`skipping diagnosis "${d.label}": not enough time left in the budget`);
      rows.push({ what: `diagnosis ${d.label}`, value: 'skipped', note: 'time budget' });
      continue;
    }
    try {
      const r = await benchEngineThroughput({ ...d.opts, log });
      console.log(`diagnosis: ${d.label}`);
      console.log(formatResult(r));
      console.log('');
      const m = r.main;
      rows.push({
        what: `diagnosis ${d.label}`,
        value: `ratio ${m.ratio}`,
        note: `${m.calls} calls, lane hold ${m.laneHold.mean} ms for ${r.latencyMs} ms latency, ${m.cpuPerCallMs} ms CPU per call (${Math.round(100 * m.cpuCoreShare)}% of a core), ${m.pollsPerCall} polls per call`,
      });
    } catch (e) {
      console.error(`diagnosis "${d.label}" failed:`, e);
      rows.push({ what: `diagnosis ${d.label}`, value: 'FAILED', note: e instanceof Error ? e.message : String(e) });
    }
  }

  printTable();
  console.log(`\ntotal ${(elapsed() / 1000).toFixed(1)} s`);
  process.exitCode = failed ? 1 : 0;
}

/** A table cell from what editor-open returns (EditorOpenResult today; a number of ms also works). */
function summarizeEditor(out: unknown): { value: string; note?: string } {
  if (typeof out === 'number') return { value: `${Math.round(out)} ms` };
  if (out && typeof out === 'object') {
    const o = out as Record<string, unknown>;
    if (typeof o.openMedianMs === 'number') {
      const runs = Array.isArray(o.openRunsMs) ? ` (runs ${o.openRunsMs.join(', ')} ms)` : '';
      const pan = typeof o.panMeanFps === 'number' ? `pan ${o.panMeanFps} fps, p95 frame ${String(o.panP95FrameMs)} ms; ` : '';
      return { value: `${o.openMedianMs} ms median${runs}`, note: `${pan}${String(o.nodes ?? '?')} nodes, ${String(o.browser ?? '')}` };
    }
    const key = Object.keys(o).find((k) => /ms$|time|duration|median|mean/i.test(k) && typeof o[k] === 'number');
    if (key) return { value: `${key} ${Math.round(o[key] as number)}${/ms$/i.test(key) ? '' : ' ms'}` };
    return { value: JSON.stringify(out).slice(0, 100) };
  }
  return { value: String(out).slice(0, 100) };
}

function printTable(): void {
  const w1 = Math.max(...rows.map((r) => r.what.length));
  const w2 = Math.max(...rows.map((r) => r.value.length));
  console.log('summary');
  console.log(`${'measure'.padEnd(w1)}  ${'value'.padEnd(w2)}  note`);
  console.log(`${'-'.repeat(w1)}  ${'-'.repeat(w2)}  ${'-'.repeat(4)}`);
  for (const r of rows) console.log(`${r.what.padEnd(w1)}  ${r.value.padEnd(w2)}  ${r.note ?? ''}`);
}

main()
  .catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  })
  // An imported benchmark may leave handles open (a browser, a server): end here regardless.
  .finally(() => process.exit(process.exitCode ?? 0));
