/**
 * Batch benchmark: a prompt list of N rows (a CSV read as a stream) → flux-flex-generate (one
 * call per row) → save-image, through the real BFL adapter over HTTP to the emulator in a child
 * process. Each batch runs in a fresh child process of its own, so its peak RSS is its own:
 *
 * - memory: peak RSS of a 10,000-row batch ÷ that of a 1,000-row batch (target ≤ 1.2: rows are
 *   pulled as the run has room, so memory does not grow with the file);
 * - makespan ÷ lower bound of the 10,000-row batch (target ≤ 1.05), the lower bound being
 *   rows × latency ÷ lane cap: no schedule beats the cap, so near 1 means the batch starts at
 *   once and keeps the lanes full.
 *
 * Run alone: `npx tsx bench/batch.ts [rows] [smallRows] [latencyMs] [cap]`.
 */
import { fork } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const EMULATOR_FLAG = '--fluxgraph-batch-emulator';
const RUN_FLAG = '--fluxgraph-batch-run';

export interface BatchBenchOptions {
  /** Rows of the large batch (default 10,000). */
  rows?: number;
  /** Rows of the small batch the memory is compared with (default 1,000). */
  smallRows?: number;
  /** Emulator latency, submit → Ready, ms (default 1,000). */
  latencyMs?: number;
  /** BFL lane cap (default 250). */
  cap?: number;
  log?: (line: string) => void;
}

export interface BatchRun {
  rows: number;
  status: string;
  imagesWritten: number;
  failures: number;
  peakRssMB: number;
  makespanMs: number;
  lowerBoundMs: number;
  /** First submit after the run started, ms: a batch starts submitting at once. */
  firstSubmitMs: number;
}

export interface BatchBenchResult {
  latencyMs: number;
  cap: number;
  large: BatchRun;
  small: BatchRun;
  /** Peak RSS of the large batch ÷ the small one (target ≤ 1.2). */
  rssRatio: number;
  /** Makespan ÷ lower bound of the large batch (target ≤ 1.05). */
  makespanRatio: number;
}

const self = fileURLToPath(import.meta.url);
const childOptions = (env: Record<string, string>) => ({
  execArgv: ['--import', import.meta.resolve('tsx')],
  env: { ...process.env, ...env },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'] as ('ignore' | 'inherit' | 'ipc')[],
});

function message<T>(child: ReturnType<typeof fork>, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m as T);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited early (code ${code})`));
    });
  });
}

async function runBatch(baseUrl: string, rows: number, dir: string, latencyMs: number, cap: number): Promise<BatchRun> {
  const csv = join(dir, `rows-${rows}.csv`);
  const lines = ['sku,product'];
  for (let i = 1; i <= rows; i++) lines.push(`S${i},"product ${i}, studio photo"`);
  await writeFile(csv, lines.join('\n') + '\n');
  const child = fork(self, [RUN_FLAG], childOptions({ BENCH_BASE_URL: baseUrl, BENCH_CSV: csv, BENCH_OUT: join(dir, `out-${rows}`), BENCH_CAP: String(cap) }));
  const result = await message<Omit<BatchRun, 'lowerBoundMs'>>(child, 15 * 60_000, `the ${rows}-row batch`);
  child.kill();
  return { ...result, lowerBoundMs: Math.round((rows * latencyMs) / cap) };
}

export async function benchBatch(opts: BatchBenchOptions = {}): Promise<BatchBenchResult> {
  const rows = opts.rows ?? 10_000;
  const smallRows = opts.smallRows ?? 1_000;
  const latencyMs = opts.latencyMs ?? 1_000;
  const cap = opts.cap ?? 250;
  const log = opts.log ?? (() => undefined);
  const dir = await mkdtemp(join(tmpdir(), 'fluxgraph-bench-batch-'));
  const emulator = fork(self, [EMULATOR_FLAG], childOptions({ BENCH_LATENCY_MS: String(latencyMs), BENCH_ACTIVE_CAP: String(cap * 2) }));
  try {
    const { ready } = await message<{ ready: string }>(emulator, 60_000, 'the emulator child');
    log(`batch: ${smallRows} rows`);
    const small = await runBatch(ready, smallRows, dir, latencyMs, cap);
    log(`batch: ${rows} rows`);
    const large = await runBatch(ready, rows, dir, latencyMs, cap);
    return {
      latencyMs,
      cap,
      large,
      small,
      rssRatio: Math.round((large.peakRssMB / small.peakRssMB) * 100) / 100,
      makespanRatio: Math.round((large.makespanMs / large.lowerBoundMs) * 1000) / 1000,
    };
  } finally {
    emulator.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatBatchResult(r: BatchBenchResult): string {
  const line = (x: BatchRun) =>
    `  ${String(x.rows).padStart(6)} rows: ${x.status}, ${x.imagesWritten} files, ${x.failures} failures, peak RSS ${x.peakRssMB} MB, makespan ${x.makespanMs} ms (lower bound ${x.lowerBoundMs} ms), first submit after ${x.firstSubmitMs} ms`;
  return [
    `batch (latency ${r.latencyMs} ms, cap ${r.cap}):`,
    line(r.small),
    line(r.large),
    `  peak RSS ratio ${r.rssRatio} (target ≤ 1.2), makespan ÷ lower bound ${r.makespanRatio} (target ≤ 1.05)`,
  ].join('\n');
}

async function emulatorMain(): Promise<void> {
  const { startEmulator } = await import('../engine/emulator/server');
  const em = await startEmulator({ host: '127.0.0.1', port: 0, pollPort: 0, latencyMs: Number(process.env.BENCH_LATENCY_MS), activeTaskCap: Number(process.env.BENCH_ACTIVE_CAP), faults: {} });
  process.on('disconnect', () => void em.close().finally(() => process.exit(0)));
  process.send!({ ready: em.baseUrl });
}

/** One batch in this (fresh) process: its peak RSS is sampled every 50 ms. */
async function runMain(): Promise<void> {
  const { runPipeline } = await import('../engine/core/run-pipeline');
  const { pipelineSchema } = await import('../engine/core/pipeline-schema');
  const { createProviders } = await import('../engine/host/create-providers');
  const { FileArtifactStore } = await import('../engine/store/artifacts');
  const { createRegistry } = await import('../nodes');
  const out = process.env.BENCH_OUT!;
  const cap = Number(process.env.BENCH_CAP);
  const host = await createProviders({ env: { BFL_BASE_URL: process.env.BENCH_BASE_URL!, BFL_API_KEY: 'bench-key' }, emulator: 'never', callbacks: 'off', poll: { intervalMs: 50, maxIntervalMs: 50, backoff: 1, jitter: 0.2 } });
  const doc = pipelineSchema.parse({
    version: 1,
    nodes: [
      { id: 'list', type: 'prompt-list', params: { file: process.env.BENCH_CSV!, template: '{product}' } },
      { id: 'gen', type: 'flux-flex-generate', params: { width: 64, height: 64, steps: 1, seed: 1 } },
      { id: 'save', type: 'save-image', params: { template: '{run}/{row}-{index}' } },
    ],
    edges: [
      { source: 'list', sourceHandle: 'prompts', target: 'gen', targetHandle: 'prompt' },
      { source: 'gen', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
    ],
  });
  let peak = process.memoryUsage.rss();
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
  const started = performance.now();
  let firstSubmit = -1;
  const summary = await runPipeline(doc, {
    registry: createRegistry(),
    providers: host.providers,
    store: new FileArtifactStore(join(out, 'store')),
    baseDir: out,
    outDir: out,
    runId: 'bench',
    concurrency: { bfl: cap },
    onEvent: (e) => {
      if (firstSubmit < 0 && e.type === 'nodeProgress' && /submitted$/.test(e.status ?? '')) firstSubmit = performance.now() - started;
    },
  });
  const makespanMs = Math.round(performance.now() - started);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  await host.close();
  process.send!({
    rows: summary.nodes.gen?.items ?? 0,
    status: summary.status,
    imagesWritten: summary.imagesWritten.length,
    failures: summary.failures.length,
    peakRssMB: Math.round(peak / 1048576),
    makespanMs,
    firstSubmitMs: Math.round(firstSubmit),
  });
}

if (process.argv.includes(EMULATOR_FLAG)) void emulatorMain();
else if (process.argv.includes(RUN_FLAG)) void runMain();
else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [rows, smallRows, latencyMs, cap] = process.argv.slice(2).map(Number);
  benchBatch({ rows: rows || undefined, smallRows: smallRows || undefined, latencyMs: latencyMs || undefined, cap: cap || undefined, log: (l) => console.error(l) })
    .then((r) => console.log(formatBatchResult(r)))
    .catch((e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    });
}
