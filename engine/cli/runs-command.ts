/**
 * `fluxgraph runs` (history with status and cost), `fluxgraph runs show <id>` (each task of a
 * run) and `fluxgraph prune` (the store and old runs). Every figure comes from the ledger and is
 * printed with the one rounding function the summary and the editor use.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatCost, formatUsd } from '../core/money';
import { loadEnv } from '../host/env';
import { FileArtifactStore } from '../store/artifacts';
import { Ledger, type RunRecord, type TaskRow } from '../store/ledger';
import { worstCaseMicros } from './ambiguous';
import { EXIT, fail } from './exit';
import { cacheDirOf } from './cli-host';

const time = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

function openLedger(cacheDir: string | undefined): Ledger {
  return Ledger.open(resolve(cacheDirOf(cacheDir, loadEnv(process.cwd())), 'ledger.sqlite'));
}

export async function commandRuns(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { 'cache-dir': { type: 'string' }, json: { type: 'boolean' }, limit: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) return (process.stdout.write('Usage: fluxgraph runs [--json] [--limit N] [--cache-dir DIR]\n       fluxgraph runs show <run id> [--json] [--cache-dir DIR]\n'), EXIT.ok);
  if (positionals[0] === 'show') {
    if (positionals.length !== 2) return fail('runs show needs one run id, e.g. fluxgraph runs show 20260101-120000-abc123');
    return showRun(positionals[1], values['cache-dir'], values.json === true);
  }
  if (positionals.length) return fail(`runs: unexpected "${positionals[0]}" (did you mean: fluxgraph runs show ${positionals[0]}?)`);
  const limit = Number(values.limit ?? 50);
  if (!Number.isInteger(limit) || limit < 1) return fail(`--limit ${values.limit}: expected a whole number of runs`);
  const ledger = openLedger(values['cache-dir']);
  try {
    const runs = ledger.listRuns(limit).map(({ pipeline: _omit, ...r }) => ({ ...r, emulator: r.options.emulator === true }));
    if (values.json) {
      process.stdout.write(JSON.stringify(runs) + '\n');
      return EXIT.ok;
    }
    if (!runs.length) {
      process.stdout.write('No runs yet.\n');
      return EXIT.ok;
    }
    process.stdout.write(`${'run id'.padEnd(24)} ${'pipeline'.padEnd(22)} ${'status'.padEnd(12)} ${'started'.padEnd(20)} images  calls  failed  cost\n`);
    for (const r of runs) process.stdout.write(`${runLine(r)}\n`);
    process.stdout.write(legend(runs));
    return EXIT.ok;
  } finally {
    ledger.close();
  }
}

function runLine(r: Omit<RunRecord, 'pipeline'>): string {
  const status = `${r.status}${r.resumable ? '*' : ''}`;
  const emulator = r.options.emulator ? '  [emulator]' : '';
  const owner = r.owner ? `  by ${r.owner}${r.team ? ` (${r.team})` : ''}` : '';
  return `${r.runId.padEnd(24)} ${(r.name ?? '-').slice(0, 22).padEnd(22)} ${status.padEnd(12)} ${time(r.startedAt).padEnd(20)} ${String(r.images).padStart(6)} ${String(r.calls).padStart(6)}  ${String(r.failures).padStart(6)}  ${formatCost(r)}${r.shared ? ` (${r.shared} shared at $0)` : ''}${emulator}${owner}`;
}

/** The footnote of the table: what its marks mean, only for the marks it shows. */
function legend(runs: readonly Omit<RunRecord, 'pipeline'>[]): string {
  const notes = [
    runs.some((r) => r.resumable) ? '* resumable: fluxgraph run --resume <run id>' : '',
    runs.some((r) => r.options.emulator) ? '[emulator]: made on the embedded emulator (stand-in images, nothing paid)' : '',
  ].filter(Boolean);
  return notes.length ? `${notes.join('; ')}\n` : '';
}

function taskCost(t: TaskRow): string {
  if (t.shared) return 'shared $0';
  if (t.state === 'submitting') return `up to ${formatUsd(worstCaseMicros(t), true)} unconfirmed`;
  if (t.state === 'failed') return '$0';
  return t.costMicros === null ? '-' : formatUsd(t.costMicros, t.costEstimated);
}

const STATE: Record<TaskRow['state'], string> = { submitting: 'ambiguous', submitted: 'in flight', done: 'done', failed: 'failed' };

async function showRun(runId: string, cacheDir: string | undefined, json: boolean): Promise<number> {
  const ledger = openLedger(cacheDir);
  try {
    const run = ledger.getRun(runId);
    if (!run) return fail(`runs show ${runId}: no such run (fluxgraph runs lists them)`);
    const tasks = ledger.tasksOf(runId);
    if (json) {
      const { pipeline: _omit, ...rest } = run;
      process.stdout.write(JSON.stringify({ run: rest, tasks: tasks.map(({ requestJson: _r, ...t }) => t) }) + '\n');
      return EXIT.ok;
    }
    process.stdout.write(`Run ${run.runId}${run.name ? ` (${run.name})` : ''}: ${run.status}${run.resumable ? ' (resumable)' : ''}${run.options.emulator ? ', on the embedded emulator' : ''}, started ${time(run.startedAt)} UTC, ${run.images} image${run.images === 1 ? '' : 's'}, ${run.calls} provider call${run.calls === 1 ? '' : 's'}, cost ${formatCost(run)}\n`);
    if (!tasks.length) {
      process.stdout.write('No provider tasks.\n');
      return EXIT.ok;
    }
    process.stdout.write(`${'node'.padEnd(14)} ${'item'.padStart(4)}  ${'provider'.padEnd(8)} ${'account'.padEnd(10)} ${'task id'.padEnd(38)} ${'submitted'.padEnd(20)} ${'state'.padEnd(10)} cost\n`);
    for (const t of tasks) {
      const state = t.errorCode === 'resubmitted' ? 'ambiguous, sent again' : STATE[t.state];
      process.stdout.write(
        `${t.nodeId.slice(0, 14).padEnd(14)} ${String(t.item).padStart(4)}  ${t.provider.padEnd(8)} ${(t.account ?? 'default').padEnd(10)} ${(t.taskId ?? '(no answer)').padEnd(38)} ${time(t.submittedAt ?? t.createdAt).padEnd(20)} ${state.padEnd(10)} ${taskCost(t)}${t.errorCode && t.state === 'failed' ? `  [${t.errorCode}]` : ''}\n`,
      );
    }
    return EXIT.ok;
  } finally {
    ledger.close();
  }
}

export async function commandPrune(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { 'cache-dir': { type: 'string' }, 'older-than': { type: 'string' }, 'dry-run': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) return (process.stdout.write('Usage: fluxgraph prune [--older-than DAYS (default 30)] [--dry-run] [--cache-dir DIR]\n'), EXIT.ok);
  const days = Number(values['older-than'] ?? 30);
  if (!Number.isFinite(days) || days < 0) return fail(`--older-than ${values['older-than']}: expected a number of days`);
  const dir = cacheDirOf(values['cache-dir'], loadEnv(process.cwd()));
  const ledger = Ledger.open(resolve(dir, 'ledger.sqlite'));
  try {
    const dry = values['dry-run'] === true;
    // One plan for both: the dry run lists exactly what the real prune removes.
    const plan = ledger.prunePlan(Date.now() - days * 86_400_000);
    const store = new FileArtifactStore(resolve(dir, 'store'));
    const remove: { hash: string; bytes: number }[] = [];
    for (const a of await store.list()) {
      if (plan.keepHashes.has(a.hash)) continue;
      // A live run may have stored inputs (reference images) no task refers to yet.
      if (plan.liveSince !== undefined && a.mtimeMs >= plan.liveSince - 60_000) continue;
      remove.push(a);
    }
    const bytes = remove.reduce((n, a) => n + a.bytes, 0);
    if (dry) {
      for (const id of plan.forget) process.stdout.write(`would forget run ${id}\n`);
      for (const a of remove) process.stdout.write(`would remove ${store.pathOf(a.hash)}\n`);
    } else {
      ledger.forgetRuns(plan.forget);
      for (const a of remove) await store.remove(a.hash);
    }
    process.stdout.write(
      `${dry ? 'Would remove' : 'Removed'} ${remove.length} stored file${remove.length === 1 ? '' : 's'} (${(bytes / 1048576).toFixed(1)} MB) no run refers to, and ${dry ? 'would forget' : 'forgot'} ${plan.forget.length} run${plan.forget.length === 1 ? '' : 's'} older than ${days} days. Runs in progress or resumable keep their files.\n`,
    );
    return EXIT.ok;
  } finally {
    ledger.close();
  }
}
