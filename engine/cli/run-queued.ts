/**
 * `fluxgraph run --queue`: team mode's run. The same pre-flight as a local run, then the run is
 * put on the shared queue (a worker's coordinator runs it) and this process follows its events
 * from Redis: the same progress, NDJSON with --json, the same summary and exit codes. `--detach`
 * prints the run id and returns at once. Ctrl-C cancels the run in the queue as Ctrl-C cancels a
 * local run: nothing new is sent, submits on the wire finish and are recorded, and the run stays
 * resumable with `fluxgraph queue retry`.
 */
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { createRegistry } from '../../nodes/index';
import type { RunEvent, RunSummary } from '../core/events';
import { formatUsd, toMicros } from '../core/money';
import { newRunId } from '../core/run-pipeline';
import { providerOfNodes } from '../core/validate';
import { isBatch } from '../core/batch-plan';
import { estimatePipeline } from '../host/estimate';
import { loadEnv } from '../host/env';
import { PgLedger } from '../store/pg-ledger';
import { liveAccounts } from '../team/call-queues';
import { withoutKeys } from '../team/capabilities';
import { openSharedStore, teamSettings } from '../team/config';
import { followRunEvents } from '../team/run-events';
import { MAX_PRIORITY, MIN_PRIORITY, type RunJobData } from '../team/run-job';
import { RunQueue } from '../team/run-queue';
import { formatAmbiguous } from './ambiguous';
import { parseConcurrency } from './args';
import type { CliHost } from './cli-host';
import { EXIT, fail } from './exit';
import { write } from './output';
import type { PipelineArgs } from './pipeline-args';
import { preflight, validOrPrint } from './preflight';
import { formatEstimate } from './print';
import { formatSummary, TerminalProgress } from './progress';

export async function commandRunQueued(args: PipelineArgs): Promise<number> {
  const { values, resumeId } = args;
  if (resumeId) return fail(`--resume ${resumeId} with --queue: queue a stopped run again with: fluxgraph queue retry ${resumeId}`);
  for (const flag of ['resubmit-ambiguous', 'retry-failed'] as const) if (values[flag]) return fail(`--${flag} with --queue: use it with fluxgraph queue retry <run id>`);
  const priority = values.priority === undefined ? 0 : Number(values.priority);
  if (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY) {
    return fail(`--priority ${values.priority}: expected a whole number from ${MIN_PRIORITY} to ${MAX_PRIORITY} (higher runs first; default 0)`);
  }
  const env = loadEnv(process.cwd());
  const settings = teamSettings(env, 'run --queue');
  // Every part of team mode answers before anything is enqueued.
  const queue = await RunQueue.open(settings.redisUrl);
  try {
    const ledger = await PgLedger.open(settings.databaseUrl);
    try {
      const store = await openSharedStore(settings.store, env);
      try {
        return await enqueueAndFollow(args, { env, priority, queue, ledger, store });
      } finally {
        store.close();
      }
    } finally {
      await ledger.close();
    }
  } finally {
    await queue.close();
  }
}

interface Team {
  env: Record<string, string | undefined>;
  priority: number;
  queue: RunQueue;
  ledger: PgLedger;
  store: Awaited<ReturnType<typeof openSharedStore>>;
}

async function enqueueAndFollow(args: PipelineArgs, team: Team): Promise<number> {
  const { values } = args;
  const { env, queue, ledger, store } = team;
  // Keys stay with the workers: the pre-flight here sees the providers' capabilities only.
  const cliEnv = { ...withoutKeys(env), FLUXGRAPH_EMULATOR: 'never', FLUXGRAPH_CALLBACK_URL: undefined, FLUXGRAPH_PUBLIC_URL: undefined };
  const fromEnvFile = new Set(Object.keys(env).filter((k) => process.env[k] === undefined));
  const cli: CliHost = { env: cliEnv, fromEnvFile, registry: createRegistry(), cacheDir: resolve(env.FLUXGRAPH_CACHE_DIR ?? '.fluxgraph') };
  return preflight(args, cli, async (pre, host) => {
    const pipeline = validOrPrint(pre);
    if (!pipeline) return EXIT.invalid;
    // Each provider the run calls needs a worker with one of its accounts' keys.
    const live = await liveAccounts(queue.redis);
    const uses = [...new Set(providerOfNodes(pipeline, cli.registry, host.providers, pre.provider).values())];
    const unserved = uses.filter((p) => !live.get(p)?.length);
    if (unserved.length) {
      return fail(`no worker serves provider ${unserved.map((p) => `"${p}"`).join(', ')}: start fluxgraph worker on a machine with ${unserved.map((p) => `${p.toUpperCase()}_API_KEY or ${p.toUpperCase()}_API_KEYS`).join(', ')} set; nothing was queued`);
    }
    const runId = newRunId();
    const seedsFrom = pre.only ? (await ledger.latestRunOf({ ...(pre.file ? { path: pre.file } : {}), ...(pipeline.name ? { name: pipeline.name } : {}) }, runId))?.runId : undefined;
    let budgetUsd: number | undefined;
    if (values.budget !== undefined) {
      budgetUsd = Number(values.budget);
      if (!Number.isFinite(budgetUsd) || budgetUsd < 0) return fail(`--budget ${values.budget}: expected an amount in USD, e.g. --budget 2.50`);
      const estimate = await estimatePipeline(pipeline, {
        registry: cli.registry,
        providers: host.providers,
        store,
        ...(values['no-cache'] ? {} : { tasks: ledger.hooks(runId) }),
        ...(seedsFrom ? { seeds: await ledger.nodeSeedsOf(seedsFrom) } : {}),
        baseDir: pre.baseDir,
        variables: pre.variables,
        ...(pre.provider ? { provider: pre.provider } : {}),
        ...(pre.only ? { only: pre.only } : {}),
        checked: pre.checked,
        ...(pre.inputs ? { inputs: pre.inputs } : {}),
        ...(pre.batch ? { batch: pre.batch } : {}),
      });
      if (estimate.totalUsd > budgetUsd + 1e-9) {
        return fail(`the estimate is ${formatUsd(toMicros(estimate.totalUsd), true)}, over the budget of ${formatUsd(toMicros(budgetUsd))}; nothing was queued\n${formatEstimate(estimate)}`);
      }
    }
    let taskTimeoutMs: number | undefined;
    if (values.timeout !== undefined) {
      const sec = Number(values.timeout);
      if (!Number.isFinite(sec) || sec <= 0) return fail(`--timeout ${values.timeout}: expected seconds greater than 0`);
      taskTimeoutMs = sec * 1000;
    }
    const { inputs } = pre;
    const batch = pre.batch !== undefined && isBatch(pre.batch.plan);
    const person = env.FLUXGRAPH_OWNER?.trim() || safeUserName();
    const data: RunJobData = {
      runId,
      attempt: 0,
      ...(person ? { owner: { person } } : {}),
      pipeline: pre.doc,
      ...(pre.file ? { pipelinePath: pre.file } : {}),
      options: {
        variables: pre.variables,
        ...(pre.provider ? { provider: pre.provider } : {}),
        concurrency: parseConcurrency(values.concurrency ?? [], host.providers.ids()),
        outDir: pre.outDir ?? resolve(values.out ?? 'out'),
        baseDir: pre.baseDir,
        ...(pre.only ? { only: pre.only } : {}),
        ...(inputs ? { inputs: inputs.path, ...(inputs.range ? { rows: inputs.range } : {}) } : {}),
        ...(batch ? { batch } : {}),
      },
      priority: team.priority,
      ...(values['no-cache'] ? { noCache: true } : {}),
      ...(budgetUsd !== undefined ? { budgetUsd } : {}),
      ...(taskTimeoutMs ? { taskTimeoutMs } : {}),
      ...(pre.allowPrivateUrls ? { allowPrivateUrls: true } : {}),
      ...(seedsFrom ? { seedsFrom } : {}),
      enqueuedAt: Date.now(),
    };
    await queue.enqueue(data);
    const json = values.json === true || !process.stdout.isTTY;
    if (values.detach) {
      write('stdout', (json && values.json ? JSON.stringify({ runId, queued: true }) : runId) + '\n');
      return EXIT.ok;
    }
    if ((await queue.queue.getWorkers()).length === 0) process.stderr.write(`No worker takes runs right now: run ${runId} waits in the queue until one starts (fluxgraph worker).\n`);
    process.stderr.write(`Run ${runId} queued${team.priority ? ` (priority ${team.priority})` : ''}: Ctrl-C cancels it; a stopped run continues with: fluxgraph queue retry ${runId}\n`);
    return follow(runId, data, team, json, host.redact);
  });
}

/** Follows the run's events until it ends; the exit code as for a local run. */
async function follow(runId: string, data: RunJobData, team: Team, json: boolean, redact: (s: string) => string): Promise<number> {
  const { queue, ledger } = team;
  const outDir = data.options.outDir ?? 'out';
  const terminal = json ? undefined : new TerminalProgress(process.stdout, redact);
  const stop = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts > 1) {
      process.stderr.write(`\nStopped following. The run is cancelled in the queue; continue it with: fluxgraph queue retry ${runId}\n`);
      process.exit(EXIT.interrupted);
    }
    process.stderr.write(`\nCancelling run ${runId} in the queue: no new submissions; submits on the wire finish and are recorded (Ctrl-C again to stop following at once).\n`);
    void queue.cancel(runId, ledger).catch((e: unknown) => process.stderr.write(`could not cancel: ${(e as Error).message}\n`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A run job that fails in the queue itself (not a run that fails) has no runDone: say so.
  let lost: string | undefined;
  const watchdog = setInterval(() => {
    void (async () => {
      const job = await queue.job(runId);
      if (!job) return;
      if ((await job.getState()) === 'failed') {
        lost = `the run job failed in the queue: ${job.failedReason}`;
        stop.abort();
      }
    })().catch(() => undefined);
  }, 2000);
  let summary: RunSummary | undefined;
  let started = false;
  try {
    for await (const { event } of followRunEvents(queue.redis, runId, 0, stop.signal)) {
      // A coordinator that continues the run after another stopped starts it again: one table.
      if (event.type === 'runStart' && started) continue;
      if (event.type === 'runStart') started = true;
      show(event, json, terminal, redact);
      if (event.type === 'runDone') {
        summary = event.summary;
        break;
      }
    }
  } finally {
    clearInterval(watchdog);
    stop.abort();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (!summary) {
    process.stderr.write(`fluxgraph: ${lost ?? 'the run ended without a summary'}; it can be queued again with: fluxgraph queue retry ${runId}\n`);
    return EXIT.failed;
  }
  const ambiguous = await ledger.ambiguousOf(runId);
  const again = `fluxgraph queue retry ${runId} --resubmit-ambiguous`;
  const stopped = summary.status === 'cancelled';
  const retryLine = `Continue it with: fluxgraph queue retry ${runId}`;
  if (!json) {
    write('stdout', redact(formatSummary(summary, outDir) + formatAmbiguous(runId, ambiguous, again)) + '\n');
    if (stopped) write('stdout', retryLine + '\n');
  } else {
    if (ambiguous.length) process.stderr.write(formatAmbiguous(runId, ambiguous, again).trimStart() + '\n');
    if (stopped) process.stderr.write(retryLine + '\n');
  }
  if (stopped) return EXIT.interrupted;
  return summary.status === 'done' && ambiguous.length === 0 ? EXIT.ok : EXIT.failed;
}

function show(e: RunEvent, json: boolean, terminal: TerminalProgress | undefined, redact: (s: string) => string): void {
  if (json) write('stdout', redact(JSON.stringify(e)) + '\n');
  else terminal!.onEvent(e);
}

function safeUserName(): string | undefined {
  try {
    return userInfo().username || undefined;
  } catch {
    return undefined;
  }
}

