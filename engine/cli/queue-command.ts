/**
 * `fluxgraph queue list|pause|resume|cancel <run>|retry <run>`: the shared queue of team mode as
 * its users control it. `list` shows the runs going and waiting (with owners and priorities) and,
 * per provider account, the calls active and waiting against its cap.
 */
import { Queue } from 'bullmq';
import { parseArgs } from 'node:util';
import { EngineError } from '../core/errors';
import { loadEnv } from '../host/env';
import { PgLedger } from '../store/pg-ledger';
import { callQueueName } from '../team/call-job';
import { liveAccounts } from '../team/call-queues';
import { teamSettings } from '../team/config';
import { MAX_PRIORITY, MIN_PRIORITY } from '../team/run-job';
import { RunQueue, type QueuedRun } from '../team/run-queue';
import { EXIT, fail } from './exit';
import { COMMAND_HELP } from './usage';

const VERBS = ['list', 'pause', 'resume', 'cancel', 'retry'];

export interface AccountLoadRow {
  provider: string;
  account: string;
  cap: number;
  active: number;
  waiting: number;
  rateLimited: boolean;
}

export async function commandQueue(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean' },
      priority: { type: 'string' },
      'resubmit-ambiguous': { type: 'boolean' },
      'retry-failed': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(COMMAND_HELP.queue + '\n');
    return EXIT.ok;
  }
  const [verb = 'list', runId, ...extra] = positionals;
  if (!VERBS.includes(verb)) return fail(`queue ${verb}: unknown (queue ${VERBS.join('|')})`);
  const needsRun = verb === 'cancel' || verb === 'retry';
  if (needsRun && !runId) return fail(`queue ${verb} needs a run id, e.g. fluxgraph queue ${verb} 20261207-120000-ab12 (fluxgraph queue list shows them)`);
  if ((!needsRun && runId) || extra.length) return fail(`queue ${verb}: unexpected argument ${[...(needsRun ? [] : [runId]), ...extra].filter(Boolean).join(' ')}`);
  let priority: number | undefined;
  if (values.priority !== undefined) {
    if (verb !== 'retry') return fail('--priority is an option of queue retry (and of run --queue)');
    priority = Number(values.priority);
    if (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY) return fail(`--priority ${values.priority}: expected a whole number from ${MIN_PRIORITY} to ${MAX_PRIORITY}`);
  }
  if ((values['resubmit-ambiguous'] || values['retry-failed']) && verb !== 'retry') return fail('--resubmit-ambiguous and --retry-failed are options of queue retry');

  const env = loadEnv(process.cwd());
  const settings = teamSettings(env, `queue ${verb}`);
  const queue = await RunQueue.open(settings.redisUrl);
  try {
    const say = (text: string) => process.stdout.write(text + '\n');
    switch (verb) {
      case 'list': {
        const [runs, paused, accounts] = await Promise.all([queue.list(), queue.isPaused(), accountLoad(queue, settings.redisUrl)]);
        if (values.json) say(JSON.stringify({ paused, runs, accounts }));
        else say(formatQueue(runs, paused, accounts));
        return EXIT.ok;
      }
      case 'pause':
        await queue.pause();
        say('The queue is paused: no new run starts (runs already going go on). fluxgraph queue resume starts them again.');
        return EXIT.ok;
      case 'resume':
        await queue.resume();
        say('The queue takes runs again.');
        return EXIT.ok;
    }
    const ledger = await PgLedger.open(settings.databaseUrl);
    try {
      if (verb === 'cancel') {
        const was = await queue.cancel(runId!, ledger);
        if (was === 'not-queued') return fail(`run ${runId} is not in the queue (neither running nor waiting)`);
        say(
          was === 'queued'
            ? `Run ${runId} was waiting: taken out of the queue, nothing was spent. fluxgraph queue retry ${runId} queues it again.`
            : `Run ${runId} is being cancelled: no new submissions; submits on the wire finish and are recorded. fluxgraph queue retry ${runId} continues it.`,
        );
        return EXIT.ok;
      }
      const again = await queue.retry(runId!, ledger, { ...(priority !== undefined ? { priority } : {}) });
      if (values['resubmit-ambiguous'] || values['retry-failed']) {
        // Both change what is sent (and may pay again): they ride on the job of this attempt.
        await (await queue.job(runId!))?.updateData({ ...again, ...(values['resubmit-ambiguous'] ? { resubmitAmbiguous: true } : {}), ...(values['retry-failed'] ? { retryFailed: true } : {}) });
      }
      say(`Run ${runId} is queued again (attempt ${again.attempt + 1}): what it already paid for is read from the ledger, not paid again.`);
      return EXIT.ok;
    } finally {
      await ledger.close();
    }
  } catch (e) {
    if (e instanceof EngineError) return fail(e.message, e.code);
    throw e;
  } finally {
    await queue.close();
  }
}

/** Per live account: its cap, calls active and waiting, and whether a 429 paused it. */
async function accountLoad(queue: RunQueue, redisUrl: string): Promise<AccountLoadRow[]> {
  const live = await liveAccounts(queue.redis);
  const rows: AccountLoadRow[] = [];
  for (const [provider, accounts] of live) {
    for (const a of accounts) {
      const q = new Queue(callQueueName(provider, a.account), { connection: { url: redisUrl, maxRetriesPerRequest: null } });
      try {
        const c = await q.getJobCounts('active', 'waiting', 'delayed', 'prioritized');
        rows.push({ provider, account: a.account, cap: a.cap, active: c.active ?? 0, waiting: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0), rateLimited: (await q.getRateLimitTtl()) > 0 });
      } finally {
        await q.close();
      }
    }
  }
  return rows.sort((a, b) => a.provider.localeCompare(b.provider) || a.account.localeCompare(b.account));
}

function formatQueue(runs: QueuedRun[], paused: boolean, accounts: AccountLoadRow[]): string {
  const lines: string[] = [];
  lines.push(paused ? 'The queue is paused: no new run starts (fluxgraph queue resume).' : runs.length ? 'Runs:' : 'No run is going or waiting.');
  const ago = (t: number) => `${Math.max(0, Math.round((Date.now() - t) / 1000))}s ago`;
  for (const r of runs) {
    const who = r.owner ? ` by ${r.owner}` : '';
    const what = r.name ? ` "${r.name}"` : '';
    const when = r.state === 'running' && r.startedAt ? `started ${ago(r.startedAt)}` : `queued ${ago(r.enqueuedAt)}`;
    lines.push(`  ${r.state.padEnd(7)} ${r.runId}${what}${who}, priority ${r.priority}${r.attempt ? `, attempt ${r.attempt + 1}` : ''}, ${when}`);
  }
  lines.push(accounts.length ? 'Provider accounts (calls active / cap, waiting):' : 'No worker serves any provider account right now.');
  for (const a of accounts) lines.push(`  ${`${a.provider} ${a.account}`.padEnd(24)} ${a.active}/${a.cap} active, ${a.waiting} waiting${a.rateLimited ? ', paused by a 429' : ''}`);
  return lines.join('\n');
}
