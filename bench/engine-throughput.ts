/**
 * Engine throughput benchmark: thousands of provider calls through the real BFL adapter, over real
 * HTTP, against the provider emulator running in a child process (so this process's CPU and memory
 * are the engine's own), with a fixed emulator latency and a lane cap.
 *
 * Pipeline: prompt → N × flux-flex-generate (64 drafts each, 64×64, steps 1) → N × save-image
 * (temp out dir), so every image goes through the artifact store and onto disk.
 *
 * The lower bound of the makespan is max(calls × latency ÷ cap, critical path): no schedule can
 * beat the lane cap, and no call finishes before the emulator's latency. makespan ÷ lower bound
 * near 1 means the engine adds little on top of the provider.
 *
 * Run alone: `npx tsx bench/engine-throughput.ts [calls] [latencyMs] [cap] [pollMs]` with optional
 * flags --callbacks, --ledger, --embedded, --no-save, --default-poll, --main-only (see bench/README.md).
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { RunEvent, RunSummary } from '../engine/core/events';
import type { Pipeline, PipelineEdge, PipelineNode } from '../engine/core/pipeline-schema';
import { runPipeline } from '../engine/core/run-pipeline';
import type { EmulatorStats } from '../engine/emulator/types';
import { createProviders } from '../engine/host/create-providers';
import { pollSettings, type PollSettings } from '../engine/providers/poll';
import { FileArtifactStore } from '../engine/store/artifacts';
import { Ledger } from '../engine/store/ledger';
import { createRegistry } from '../nodes';

const CHILD_FLAG = '--fluxgraph-bench-emulator';
const PER_NODE = 64;

export interface BenchOptions {
  /** Provider calls in the main run (default 2,048). */
  calls?: number;
  /** Fixed emulator latency, submit → Ready, ms (default 250). */
  latencyMs?: number;
  /** BFL lane cap (default 50). */
  cap?: number;
  /** Poll interval of the adapter, ms (default 20; no backoff, ±20% jitter). */
  pollMs?: number;
  /** Poll settings as given (on top of the engine's defaults) instead of the fixed `pollMs`; `{}` = the engine's defaults. */
  pollSettings?: Partial<PollSettings>;
  /**
   * Completion callbacks (webhooks) from the emulator to a local receiver on top of polling
   * (default false: polling only, what a host without a public callback URL does against the real API).
   */
  callbacks?: boolean;
  /** Record every task in a SQLite ledger as the CLI does (default false). */
  ledger?: boolean;
  /** Run the emulator in this process, as the CLI embeds it (default false: a child process, so CPU and memory are the engine's alone). */
  embedded?: boolean;
  /** Save every image with save-image nodes (default true); false = generate only, a what-if for the save cost. */
  save?: boolean;
  /** Calls of the smaller run used for the memory comparison (default calls ÷ 2; 0 = skip it). */
  smallCalls?: number;
  /** Progress lines while running. */
  log?: (line: string) => void;
}

/** Mean and percentiles of one per-call duration, ms. */
export interface Dist {
  mean: number;
  p50: number;
  p95: number;
  max: number;
}

export interface RunResult {
  calls: number;
  generateNodes: number;
  /** Node invocations: one per generated image, one per saved image (unless save is off), one prompt. */
  invocations: number;
  imagesWritten: number;
  failures: number;
  /** Failures by error code, with one message of each. */
  failureKinds: Record<string, { count: number; example: string }>;
  status: RunSummary['status'];
  makespanMs: number;
  lowerBoundMs: number;
  /** makespan ÷ lower bound. */
  ratio: number;
  /** Engine-process CPU (user + system) over the run; the emulator is another process. */
  cpuMs: number;
  /** The kernel's part of it (system calls: sockets, files, thread wake-ups). */
  systemCpuMs: number;
  cpuPerInvocationMs: number;
  cpuPerCallMs: number;
  /** Instructions per call of the engine process, under callgrind only (load-independent). */
  instructionsPerCall?: number;
  /** Engine-process CPU as a share of one core over the makespan. */
  cpuCoreShare: number;
  /** Emulator-process CPU over the run, ms. */
  emulatorCpuMs: number;
  /** Share of one core a busy loop got just before the run (1 = an idle machine; less = other load). */
  cpuAvailable: number;
  /** 1-minute load average when the run started (2 cores: above 2 means contention). */
  loadAvg: number;
  peakRssMB: number;
  /** Highest sampled heapUsed (every 50 ms): live data plus garbage not yet collected. */
  peakHeapMB: number;
  /** heapUsed right before the run, after a full GC. */
  baseHeapMB: number;
  /** heapUsed after a full GC forced when 90% of the images were done: the live set at its largest. */
  liveHeapMB: number;
  /** external + arrayBuffers (Buffers) after that forced GC. */
  liveExternalMB: number;
  /** That forced GC's pause, ms (included in the makespan). */
  gcPauseMs: number;
  memorySamples: number;
  /** Event-loop delay of the engine process during the run, ms. */
  loopDelay: { mean: number; p99: number; max: number };
  /** Per call: lane slot taken ("submitting") → image downloaded: how long a call holds its lane slot. */
  laneHold: Dist;
  /** Per call: lane slot taken → submit answered. */
  submit: Dist;
  /** Per call: submit answered → image downloaded (emulator latency + poll granularity + download). */
  waitAndDownload: Dist;
  /** Per call: image downloaded → generate item done (artifact store write; outside the lane). */
  store: Dist;
  /** Busy lane slot-time ÷ (cap × makespan). */
  laneUtilisation: number;
  /** Status requests per call seen by the emulator. */
  pollsPerCall: number;
  /** Requests the emulator saw, by kind (each call: 1 submit, ≥1 poll, 1 download). */
  requests: { submit: number; poll: number; download: number };
}

export interface Result {
  latencyMs: number;
  cap: number;
  /** The fixed poll interval, or undefined when `pollSettings` was given. */
  pollMs?: number;
  /** Poll schedule in words. */
  poll: string;
  callbacks: boolean;
  ledger: boolean;
  embedded: boolean;
  /** Whether images went through save-image nodes. */
  save: boolean;
  /** The main run (calls as asked). */
  main: RunResult;
  /** The smaller run, for the memory comparison. */
  small?: RunResult;
  /** What the numbers say about where the time above the lower bound goes. */
  findings: string[];
  /** Process warnings the engine raised during the runs (printed once here, not on stderr). */
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------
// The emulator in a child process.

interface ChildStats {
  cpu: NodeJS.CpuUsage;
  stats: EmulatorStats;
}

class EmulatorChild {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(
    private readonly child: ChildProcess,
    readonly baseUrl: string,
  ) {
    child.on('message', (m: { id?: number; value?: unknown }) => {
      if (typeof m.id === 'number') {
        this.waiting.get(m.id)?.resolve(m.value);
        this.waiting.delete(m.id);
      }
    });
    child.on('exit', (code, sig) => {
      for (const w of this.waiting.values()) w.reject(new Error(`the emulator child exited (${sig ?? `code ${code}`})`));
      this.waiting.clear();
    });
  }

  static async start(latencyMs: number, activeTaskCap: number): Promise<EmulatorChild> {
    const self = fileURLToPath(import.meta.url);
    const child = fork(self, [CHILD_FLAG], {
      execArgv: ['--import', import.meta.resolve('tsx')],
      env: { ...process.env, BENCH_LATENCY_MS: String(latencyMs), BENCH_ACTIVE_CAP: String(activeTaskCap) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const baseUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the emulator child did not start within 60 s')), 60_000);
      child.once('message', (m: { ready?: string }) => {
        clearTimeout(timer);
        if (m.ready) resolve(m.ready);
        else reject(new Error('unexpected first message from the emulator child'));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the emulator child exited early (code ${code})`));
      });
    });
    child.removeAllListeners('exit');
    return new EmulatorChild(child, baseUrl);
  }

  private ask<T>(op: string): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return reject(new Error('the emulator child is not running'));
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, op });
    });
  }

  stats(): Promise<ChildStats> {
    return this.ask('stats');
  }

  reset(): Promise<void> {
    return this.ask('reset');
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ id: ++this.seq, op: 'close' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

async function emulatorChildMain(): Promise<void> {
  const { startEmulator } = await import('../engine/emulator/server');
  const latencyMs = Number(process.env.BENCH_LATENCY_MS ?? 250);
  const activeTaskCap = Number(process.env.BENCH_ACTIVE_CAP ?? 1000);
  const em = await startEmulator({ host: '127.0.0.1', port: 0, pollPort: 0, latencyMs, activeTaskCap, faults: {} });
  process.on('message', (m: { id: number; op: string }) => {
    if (m.op === 'stats') process.send!({ id: m.id, value: { cpu: process.cpuUsage(), stats: em.stats() } });
    else if (m.op === 'reset') {
      em.reset();
      process.send!({ id: m.id, value: null });
    } else if (m.op === 'close') void em.close().finally(() => process.exit(0));
  });
  process.on('disconnect', () => void em.close().finally(() => process.exit(0)));
  process.send!({ ready: em.baseUrl });
}

// ---------------------------------------------------------------------------------------------
// The pipeline.

export function buildPipeline(calls: number, save = true): Pipeline {
  const nodes: PipelineNode[] = [{ id: 'idea', type: 'prompt', params: { text: 'throughput benchmark, a small gradient' }, position: { x: 0, y: 0 } }];
  const edges: PipelineEdge[] = [];
  const generators = Math.ceil(calls / PER_NODE);
  for (let g = 0; g < generators; g++) {
    const count = Math.min(PER_NODE, calls - g * PER_NODE);
    const id = `gen-${String(g).padStart(3, '0')}`;
    const saveId = `save-${String(g).padStart(3, '0')}`;
    // Distinct seeds per node: every image has its own bytes, so the store writes each one.
    nodes.push({ id, type: 'flux-flex-generate', params: { width: 64, height: 64, steps: 1, guidance: 2, count, seed: g * PER_NODE }, position: { x: 300, y: g * 80 } });
    edges.push({ source: 'idea', sourceHandle: 'text', target: id, targetHandle: 'prompt' });
    if (save) {
      nodes.push({ id: saveId, type: 'save-image', params: { template: '{run}/{source}-{index}' }, position: { x: 600, y: g * 80 } });
      edges.push({ source: id, sourceHandle: 'images', target: saveId, targetHandle: 'images' });
    }
  }
  return { version: 1, name: `throughput-${calls}`, settings: { provider: 'bfl' }, nodes, edges };
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers.

const MB = 1024 * 1024;
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

let gcFn: (() => void) | undefined;
function fullGc(times = 2): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  for (let i = 0; i < times; i++) gcFn();
}

function dist(values: number[]): Dist {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { mean: NaN, p50: NaN, p95: NaN, max: NaN };
  const at = (q: number) => v[Math.min(v.length - 1, Math.floor(q * v.length))];
  return { mean: round(v.reduce((a, b) => a + b, 0) / v.length), p50: round(at(0.5)), p95: round(at(0.95)), max: round(v[v.length - 1]) };
}

/** Share of one core a busy loop gets for `ms`: about 1 on an idle machine, less under other load. */
function cpuProbe(ms = 200): number {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    // spin
  }
  const c = process.cpuUsage(c0);
  return round((c.user + c.system) / 1000 / (performance.now() - t0), 2);
}

/**
 * Under `valgrind --tool=callgrind --instr-atstart=no` (FLUXGRAPH_BENCH_CALLGRIND=1), counts the
 * instructions of the measured run alone: instrumentation on at its start, a dump at its end.
 * Instruction counts do not depend on the machine's load, unlike CPU time.
 */
const formatNs = (ns: bigint) => `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0').slice(0, 6)}`;

let callgrindCalls = -1;
function callgrind(at: 'start' | 'end'): number | undefined {
  if (!process.env.FLUXGRAPH_BENCH_CALLGRIND) return undefined;
  const ctl = (...args: string[]) => spawnSync('callgrind_control', [...args, String(process.pid)], { encoding: 'utf8' });
  if (at === 'start') {
    ctl('-i', 'on');
    ctl('-z');
    return undefined;
  }
  const out = ctl('-d', 'bench-window');
  ctl('-i', 'off');
  const dir = process.env.FLUXGRAPH_BENCH_CALLGRIND;
  const files = readdirSync(dir).filter((f) => f.startsWith(`callgrind.out.${process.pid}.`)).sort();
  const last = files.length ? readFileSync(join(dir, files[files.length - 1]), 'utf8') : '';
  const m = /^(?:summary|totals): (\d+)/m.exec(last);
  return m ? Number(m[1]) : (console.error(out.stdout, out.stderr), undefined);
}

/** The emulator as the benchmark drives it: a child process, or embedded in this one. */
interface EmulatorHandle {
  baseUrl: string;
  stats(): Promise<ChildStats>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

async function embeddedEmulator(latencyMs: number, activeTaskCap: number): Promise<EmulatorHandle> {
  const { startEmulator } = await import('../engine/emulator/server');
  const em = await startEmulator({ host: '127.0.0.1', port: 0, pollPort: 0, latencyMs, activeTaskCap, faults: {} });
  return {
    baseUrl: em.baseUrl,
    // Same process: its CPU is not separable from the engine's.
    stats: async () => ({ cpu: { user: 0, system: 0 }, stats: em.stats() }),
    reset: async () => em.reset(),
    close: () => em.close(),
  };
}

interface RunContext {
  emulator: EmulatorHandle;
  providers: Awaited<ReturnType<typeof createProviders>>['providers'];
  latencyMs: number;
  cap: number;
  save: boolean;
  ledger: boolean;
}

async function runOnce(ctx: RunContext, calls: number): Promise<RunResult> {
  const pipeline = buildPipeline(calls, ctx.save);
  const work = await mkdtemp(join(process.env.FLUXGRAPH_BENCH_DIR ?? tmpdir(), 'fluxgraph-bench-'));
  const store = new FileArtifactStore(join(work, 'store'));
  const generateIds = pipeline.nodes.filter((n) => n.type === 'flux-flex-generate').map((n) => n.id);
  const slot = new Map(generateIds.map((id, i) => [id, i * PER_NODE]));

  // Per-call timestamps (performance.now()), preallocated so they do not show up as growth.
  const tSubmitting = new Float64Array(calls).fill(NaN);
  const tSubmitted = new Float64Array(calls).fill(NaN);
  const tDownloaded = new Float64Array(calls).fill(NaN);
  const tDone = new Float64Array(calls).fill(NaN);
  let done = 0;
  const gcAt = Math.max(1, Math.floor(calls * 0.9));
  let liveHeap = NaN;
  let liveExternal = NaN;
  let gcPauseMs = 0;
  const onEvent = (e: RunEvent) => {
    if (e.type !== 'nodeProgress' && e.type !== 'itemDone') return;
    const base = slot.get(e.nodeId);
    if (base === undefined || e.item === undefined) return;
    const i = base + e.item;
    const now = performance.now();
    if (e.type === 'itemDone') {
      tDone[i] = now;
      if (++done === gcAt) {
        setImmediate(() => {
          const t = performance.now();
          fullGc(1);
          const m = process.memoryUsage();
          liveHeap = m.heapUsed;
          liveExternal = m.external + m.arrayBuffers;
          gcPauseMs = performance.now() - t;
          // What is alive at that point, to compare two sizes (Chrome DevTools → Memory → Load).
          if (process.env.FLUXGRAPH_BENCH_HEAPSNAPSHOT) writeHeapSnapshot(`${process.env.FLUXGRAPH_BENCH_HEAPSNAPSHOT}-${calls}.heapsnapshot`);
        });
      }
    } else if (e.status?.endsWith(': submitting')) tSubmitting[i] = now;
    else if (e.status?.endsWith(': submitted')) tSubmitted[i] = now;
    else if (e.status?.endsWith(': downloaded')) tDownloaded[i] = now;
  };

  await ctx.emulator.reset();
  fullGc();
  const cpuAvailable = cpuProbe();
  const loadAvg = round(loadavg()[0], 2);
  fullGc();
  const base = process.memoryUsage();
  let peakRss = base.rss;
  let peakHeap = base.heapUsed;
  let samples = 0;
  // rss() is cheap; the full memoryUsage() walks the heap, so it is read every 500 ms only
  // (the sampler's own CPU counts as the engine's).
  const sampler = setInterval(() => {
    samples++;
    const rss = process.memoryUsage.rss();
    if (rss > peakRss) peakRss = rss;
    if (samples % 10 === 0) {
      const heap = process.memoryUsage().heapUsed;
      if (heap > peakHeap) peakHeap = heap;
    }
  }, 50);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  const emuBefore = await ctx.emulator.stats();
  loop.enable();
  if (calls === callgrindCalls) callgrind('start');
  const windowStart = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();

  const runId = `bench-${calls}-${Date.now()}`;
  const ledger = ctx.ledger ? Ledger.open(join(work, 'ledger.sqlite')) : undefined;
  let summary: RunSummary;
  try {
    // As `fluxgraph run` does: the run and each task recorded in the ledger, summary at the end.
    ledger?.startRun({ runId, pipeline, options: { concurrency: { bfl: ctx.cap }, outDir: join(work, 'out'), baseDir: work } });
    summary = await runPipeline(pipeline, {
      ...(ledger ? { runId, tasks: ledger.hooks(runId, { cache: true, reattach: true }) } : {}),
      registry: createRegistry(),
      providers: ctx.providers,
      store,
      baseDir: work,
      outDir: join(work, 'out'),
      concurrency: { bfl: ctx.cap },
      onEvent,
    });
    ledger?.finishRun(summary);
  } finally {
    clearInterval(sampler);
    loop.disable();
    ledger?.close();
  }
  const makespanMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const instructions = calls === callgrindCalls ? callgrind('end') : undefined;
  // For `perf record -k CLOCK_MONOTONIC` (uv_hrtime's clock): the run's window, to profile it alone.
  if (process.env.FLUXGRAPH_BENCH_WINDOW) console.error(`window ${calls} calls: ${formatNs(windowStart)},${formatNs(process.hrtime.bigint())}`);
  const emuAfter = await ctx.emulator.stats();
  const end = process.memoryUsage();
  peakRss = Math.max(peakRss, end.rss);
  peakHeap = Math.max(peakHeap, end.heapUsed);

  const cpuMs = (cpu.user + cpu.system) / 1000;
  const emuCpu = (emuAfter.cpu.user + emuAfter.cpu.system - emuBefore.cpu.user - emuBefore.cpu.system) / 1000;
  const invocations = 1 + (ctx.save ? 2 : 1) * calls;
  const lowerBoundMs = Math.max((calls * ctx.latencyMs) / ctx.cap, ctx.latencyMs);

  const hold: number[] = [];
  const submit: number[] = [];
  const wait: number[] = [];
  const storeMs: number[] = [];
  for (let i = 0; i < calls; i++) {
    hold.push(tDownloaded[i] - tSubmitting[i]);
    submit.push(tSubmitted[i] - tSubmitting[i]);
    wait.push(tDownloaded[i] - tSubmitted[i]);
    storeMs.push(tDone[i] - tDownloaded[i]);
  }
  const busy = hold.filter(Number.isFinite).reduce((a, b) => a + b, 0);
  const diff = (k: 'submitRequests' | 'polls' | 'downloads') => emuAfter.stats[k].bfl - emuBefore.stats[k].bfl;

  await rm(work, { recursive: true, force: true });
  return {
    calls,
    generateNodes: generateIds.length,
    invocations,
    imagesWritten: summary.imagesWritten.length,
    failures: summary.failures.length,
    failureKinds: failureKinds(summary),
    status: summary.status,
    makespanMs: Math.round(makespanMs),
    lowerBoundMs: Math.round(lowerBoundMs),
    ratio: round(makespanMs / lowerBoundMs, 3),
    cpuMs: Math.round(cpuMs),
    systemCpuMs: Math.round(cpu.system / 1000),
    cpuPerInvocationMs: round(cpuMs / invocations, 2),
    cpuPerCallMs: round(cpuMs / calls, 2),
    ...(instructions !== undefined ? { instructionsPerCall: Math.round(instructions / calls) } : {}),
    cpuCoreShare: round(cpuMs / makespanMs, 2),
    emulatorCpuMs: Math.round(emuCpu),
    cpuAvailable,
    loadAvg,
    peakRssMB: round(peakRss / MB),
    peakHeapMB: round(peakHeap / MB),
    baseHeapMB: round(base.heapUsed / MB),
    liveHeapMB: round(liveHeap / MB),
    liveExternalMB: round(liveExternal / MB),
    gcPauseMs: round(gcPauseMs),
    memorySamples: samples,
    loopDelay: { mean: round(loop.mean / 1e6, 1), p99: round(loop.percentile(99) / 1e6, 1), max: round(loop.max / 1e6, 1) },
    laneHold: dist(hold),
    submit: dist(submit),
    waitAndDownload: dist(wait),
    store: dist(storeMs),
    laneUtilisation: round(busy / (ctx.cap * makespanMs), 3),
    pollsPerCall: round(diff('polls') / calls, 2),
    requests: { submit: diff('submitRequests'), poll: diff('polls'), download: diff('downloads') },
  };
}

function failureKinds(summary: RunSummary): RunResult['failureKinds'] {
  const out: RunResult['failureKinds'] = {};
  for (const f of summary.failures) (out[f.code] ??= { count: 0, example: f.message.slice(0, 300) }).count++;
  return out;
}

function explain(r: Result): string[] {
  const { main: m, small, latencyMs, cap, pollMs } = r;
  const pollNote = r.callbacks
    ? `callbacks settle tasks; polling every ${pollMs ?? '?'} ms is only the fallback`
    : pollMs !== undefined
      ? `poll every ${pollMs} ms ≈ ${round(pollMs / 2)} ms late on average`
      : r.poll;
  const out: string[] = [];
  const over = m.laneHold.mean - latencyMs;
  out.push(
    `time: a call holds its lane slot ${m.laneHold.mean} ms on average for ${latencyMs} ms of emulator latency (+${round(over)} ms, ${round((100 * over) / latencyMs)}%): ` +
      `submit ${m.submit.mean} ms, then Ready → downloaded ${round(m.waitAndDownload.mean - latencyMs)} ms ` +
      `(${pollNote}, + the download round trip). ` +
      `Lane utilisation ${round(100 * m.laneUtilisation)}%, so makespan ≈ calls × hold ÷ cap ÷ utilisation: predicted ratio ${round(m.laneHold.mean / latencyMs / m.laneUtilisation, 3)}, measured ${m.ratio}.`,
  );
  const demand = ((cap / latencyMs) * 1000 * m.cpuPerCallMs) / 1000;
  out.push(
    `cpu: the engine spends ${m.cpuPerCallMs} ms CPU per provider call (${m.cpuPerInvocationMs} ms per node invocation, ${m.pollsPerCall} polls per call); ` +
      `at the lower bound's pace (${round((cap / latencyMs) * 1000)} calls/s) that is ${round(demand, 2)} cores (main thread + fs and GC threads), it got ${m.cpuCoreShare}; ` +
      `event-loop delay mean ${m.loopDelay.mean} ms, p99 ${m.loopDelay.p99} ms${demand > 0.6 ? ' — the main thread is the bottleneck: HTTP round trips on loopback wait behind other work' : ''}. ` +
      `Machine: ${cpus().length} cores, load ${m.loadAvg}, a busy loop got ${m.cpuAvailable} of a core before the run.`,
  );
  if (small && small.calls !== m.calls) {
    const per = (x: RunResult) => x.liveHeapMB - x.baseHeapMB;
    const kb = ((per(m) - per(small)) * 1024) / (m.calls - small.calls);
    out.push(
      `memory: live heap at 90% done (after a forced GC) is +${round(per(small), 1)} MB over the baseline at ${small.calls} calls and +${round(per(m), 1)} MB at ${m.calls} calls ` +
        `(${round(kb, 2)} KB per extra image: item-stream entries and the run summary, never image bytes); ` +
        `peak sampled heap ${small.peakHeapMB} vs ${m.peakHeapMB} MB and peak RSS ${small.peakRssMB} vs ${m.peakRssMB} MB are mostly garbage between collections.`,
    );
  }
  return out;
}

/** Runs the benchmark: a warm-up, a small run and the main run, emulator in a child process. */
export async function benchEngineThroughput(opts: BenchOptions = {}): Promise<Result> {
  const calls = Math.max(1, Math.floor(opts.calls ?? 2048));
  const latencyMs = opts.latencyMs ?? 250;
  const cap = opts.cap ?? 50;
  const pollMs = opts.pollSettings ? undefined : (opts.pollMs ?? 20);
  const embedded = opts.embedded ?? false;
  const ledgerOn = opts.ledger ?? false;
  const callbacks = opts.callbacks ?? false;
  const smallCalls = Math.max(0, Math.floor(opts.smallCalls ?? calls / 2));
  const log = opts.log ?? (() => undefined);

  // The emulator's per-key active-task cap must not refuse what the lane lets through.
  const emulator: EmulatorHandle = embedded ? await embeddedEmulator(latencyMs, cap * 2) : await EmulatorChild.start(latencyMs, cap * 2);
  const label = `${embedded ? 'embedded emulator' : 'emulator child'}${callbacks ? ', callbacks' : ''}${opts.save === false ? ', no save' : ''}${ledgerOn ? ', ledger' : ''}`;
  const poll: Partial<PollSettings> = opts.pollSettings ?? { intervalMs: pollMs, maxIntervalMs: pollMs, backoff: 1, jitter: 0.2 };
  const eff = pollSettings(poll);
  const pollText =
    eff.backoff === 1
      ? `poll every ${eff.intervalMs} ms`
      : `poll after ${eff.intervalMs} ms, ×${eff.backoff} each time up to ${eff.maxIntervalMs} ms${opts.pollSettings && Object.keys(opts.pollSettings).length === 0 ? ' (engine defaults)' : ''}`;
  let host: Awaited<ReturnType<typeof createProviders>> | undefined;
  // Node warns once per run that the run's AbortSignal has more than 10 listeners (p-queue adds
  // one per queued task); collected and reported once instead of interleaving with the output.
  const warn = process.emitWarning;
  const warnings = new Set<string>();
  try {
    host = await createProviders({
      env: { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: 'bench-key' },
      emulator: 'never',
      callbacks: callbacks ? 'on' : 'off',
      poll,
    });
    const ctx: RunContext = { emulator, providers: host.providers, latencyMs, cap, save: opts.save ?? true, ledger: ledgerOn };
    process.emitWarning = ((w: string | Error, ...rest: unknown[]) => {
      const text = typeof w === 'string' ? w : w.message;
      if (text.includes('abort listeners added')) {
        warnings.add(`MaxListenersExceededWarning: ${text.replace(/\d+ abort listeners/, 'N abort listeners')}`);
        return;
      }
      (warn as (...a: unknown[]) => void).call(process, w, ...rest);
    }) as typeof process.emitWarning;
    log(`engine throughput (${label}): warm-up, ${cap} calls`);
    await runOnce(ctx, cap);
    let small: RunResult | undefined;
    if (smallCalls > 0) {
      log(`engine throughput (${label}): ${smallCalls} calls`);
      small = await runOnce(ctx, smallCalls);
    }
    log(`engine throughput (${label}): ${calls} calls`);
    callgrindCalls = calls;
    const main = await runOnce(ctx, calls);
    const result: Result = { latencyMs, cap, ...(pollMs !== undefined ? { pollMs } : {}), poll: pollText, callbacks, ledger: ledgerOn, embedded, save: ctx.save, main, ...(small ? { small } : {}), findings: [], warnings: [...warnings] };
    result.findings = explain(result);
    return result;
  } finally {
    process.emitWarning = warn;
    await host?.close();
    await emulator.close();
  }
}

export function formatResult(r: Result): string {
  const row = (name: string, x: RunResult) =>
    [
      `${name}: ${x.calls} calls (${x.generateNodes} generate nodes × ≤${PER_NODE}, ${x.invocations} node invocations, ${x.imagesWritten} files written, ${x.failures} failures, ${x.status})`,
      ...Object.entries(x.failureKinds).map(([code, k]) => `  failed: ${k.count} × ${code}, e.g. ${k.example}`),
      `  makespan ${x.makespanMs} ms, lower bound ${x.lowerBoundMs} ms, ratio ${x.ratio}`,
      `  engine CPU ${x.cpuMs} ms (${x.systemCpuMs} ms of it in the kernel) = ${x.cpuPerInvocationMs} ms per node invocation, ${x.cpuPerCallMs} ms per call (${round(100 * x.cpuCoreShare)}% of a core); emulator CPU ${x.emulatorCpuMs} ms (child process)${x.instructionsPerCall ? `; ${(x.instructionsPerCall / 1e6).toFixed(2)} M instructions per call (callgrind)` : ''}`,
      `  peak RSS ${x.peakRssMB} MB, peak heap ${x.peakHeapMB} MB, base heap ${x.baseHeapMB} MB, live heap at 90% ${x.liveHeapMB} MB, external ${x.liveExternalMB} MB (GC pause ${x.gcPauseMs} ms), ${x.memorySamples} samples`,
      `  per call mean/p50/p95/max ms: lane hold ${fmt(x.laneHold)}, submit ${fmt(x.submit)}, wait+download ${fmt(x.waitAndDownload)}, store ${fmt(x.store)}`,
      `  requests ${x.requests.submit}/${x.requests.poll}/${x.requests.download}; lane utilisation ${x.laneUtilisation}; loop delay mean ${x.loopDelay.mean}, p99 ${x.loopDelay.p99} ms; load ${x.loadAvg}, cpu available ${x.cpuAvailable}`,
    ].join('\n');
  return [
    `engine throughput — emulator latency ${r.latencyMs} ms (fixed, no faults, ${r.embedded ? 'embedded' : 'child process'}), lane cap bfl=${r.cap}, ${r.poll}${r.callbacks ? ', callbacks on' : ''}${r.save ? '' : ', no save-image nodes'}${r.ledger ? ', ledger' : ''}`,
    ...(r.small ? [row('small run', r.small)] : []),
    row('main run', r.main),
    'findings:',
    ...r.findings.map((f) => `  - ${f}`),
    ...(r.warnings.length ? ['engine warnings during the runs:', ...r.warnings.map((w) => `  - ${w}`)] : []),
  ].join('\n');
}

function fmt(d: Dist): string {
  return `${d.mean}/${d.p50}/${d.p95}/${d.max}`;
}

// ---------------------------------------------------------------------------------------------

if (process.argv.includes(CHILD_FLAG)) {
  void emulatorChildMain();
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // npx tsx bench/engine-throughput.ts [calls] [latencyMs] [cap] [pollMs] [--callbacks] [--ledger] [--embedded] [--default-poll] [--no-save] [--main-only] [--small=N]
  const args = process.argv.slice(2);
  const [calls, latencyMs, cap, pollMs] = args.filter((a) => !a.startsWith('--')).map(Number);
  benchEngineThroughput({
    calls: calls || undefined,
    latencyMs: latencyMs || undefined,
    cap: cap || undefined,
    pollMs: pollMs || undefined,
    callbacks: args.includes('--callbacks'),
    ...(args.includes('--default-poll') ? { pollSettings: {} } : {}),
    save: !args.includes('--no-save'),
    ...(args.includes('--main-only') ? { smallCalls: 0 } : {}),
    ...(args.some((a) => a.startsWith('--small=')) ? { smallCalls: Number(args.find((a) => a.startsWith('--small='))!.slice(8)) } : {}),
    ledger: args.includes('--ledger'),
    embedded: args.includes('--embedded'),
    log: (l) => console.error(l),
  })
    .then((r) => console.log(formatResult(r)))
    .catch((e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    });
}
