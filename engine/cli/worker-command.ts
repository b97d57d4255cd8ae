/**
 * `fluxgraph worker [--concurrency N] [--runs] [--calls]`: team mode's worker. It takes run jobs
 * (coordinating whole runs: the scheduler, with each paid call sent to the queue) and provider-call
 * jobs (for every account whose key this machine has); both unless one is asked for. Any number of
 * workers on any machine; each account's cap holds across all of them. SIGTERM (or Ctrl-C) hands
 * its runs back to the queue, finishes the calls in hand and takes no new ones.
 */
import { parseArgs } from 'node:util';
import { createRegistry } from '../../nodes/index';
import { EngineError } from '../core/errors';
import { allAccounts } from '../host/accounts';
import { loadEnv } from '../host/env';
import { redactor } from '../host/redact';
import { safeFetch } from '../host/safe-fetch';
import { priceOf } from '../providers/pricing';
import { createReferenceDelivery } from '../refs/host';
import { PgLedger } from '../store/pg-ledger';
import { accountProviders } from '../team/account-providers';
import { startCallWorkers, type CallWorkers, type WorkerAccount } from '../team/call-worker';
import { CallQueues } from '../team/call-queues';
import { CancelWatch } from '../team/cancel';
import { capabilityProviders } from '../team/capabilities';
import { openSharedStore, teamSettings } from '../team/config';
import { connectRedis } from '../team/redis';
import { startRunWorkers, type RunWorkers } from '../team/run-worker';
import { parseConcurrency } from './args';
import { EXIT, fail } from './exit';
import { COMMAND_HELP } from './usage';

const PROVIDERS = ['bfl', 'kie', 'novita', 'crun'];
/** Runs one worker coordinates at once unless --concurrency says otherwise. */
const DEFAULT_RUNS = 4;

export async function runWorkerCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { concurrency: { type: 'string', multiple: true }, runs: { type: 'boolean' }, calls: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(COMMAND_HELP.worker + '\n');
    return EXIT.ok;
  }
  const local = (values.concurrency ?? []).filter((v) => /^\d+$/.test(v));
  const caps = parseConcurrency((values.concurrency ?? []).filter((v) => !/^\d+$/.test(v)), PROVIDERS);
  const slots = local.length ? Number(local[local.length - 1]) : undefined;
  if (slots !== undefined && (slots < 1 || slots > 1000)) return fail(`--concurrency ${slots}: must be between 1 and 1000`);
  const takeRuns = values.runs === true || values.calls !== true;
  const takeCalls = values.calls === true || values.runs !== true;

  const env = loadEnv(process.cwd());
  const settings = teamSettings(env, 'a worker');
  const accounts = takeCalls ? allAccounts(env) : [];
  if (takeCalls && accounts.length === 0) {
    throw new EngineError('usage', `no provider key is set: set BFL_API_KEY or BFL_API_KEYS=teamA:<key>,teamB:<key> (or those of kie, novita, crun)${values.calls ? '' : ', or start a coordinator only with fluxgraph worker --runs'}`);
  }
  const redis = await connectRedis(settings.redisUrl);
  const closers: (() => Promise<unknown> | unknown)[] = [() => redis.close()];
  const say = (line: string) => process.stdout.write(`${line}\n`);
  try {
    for (const w of redis.warnings) say(`warning: ${w}`);
    const ledger = await PgLedger.open(settings.databaseUrl);
    closers.push(() => ledger.close());
    const store = await openSharedStore(settings.store, env);
    closers.push(() => store.close());
    const hosts: { secrets: string[] }[] = [];
    const served: WorkerAccount[] = [];
    for (const account of accounts) {
      const host = await accountProviders(account, env);
      hosts.push(host);
      closers.push(() => host.close());
      const adapter = host.only.get(account.provider)!;
      served.push({ provider: account.provider, name: account.name, cap: caps[account.provider] ?? adapter.capabilities.defaultConcurrency, providers: host.only });
    }
    const redact = redactor(() => hosts.flatMap((h) => h.secrets));
    const lockMs = Number(env.FLUXGRAPH_QUEUE_LOCK_MS) || undefined;
    const lock = lockMs ? { lockDurationMs: lockMs, stalledIntervalMs: Math.max(500, Math.floor(lockMs / 2)) } : {};
    const maxStalled = env.FLUXGRAPH_QUEUE_MAX_STALLED?.trim() ? Number(env.FLUXGRAPH_QUEUE_MAX_STALLED) : undefined;

    let calls: CallWorkers | undefined;
    if (takeCalls) {
      calls = await startCallWorkers({
        redisUrl: settings.redisUrl,
        accounts: served,
        store,
        tasksFor: (runId, o) => ledger.hooks(runId, o),
        priceOf,
        // URL-only providers get local references through the routes this machine has (a bucket, kie uploads).
        references: () => createReferenceDelivery({ env, host: {}, store }),
        ...(slots ? { concurrency: slots } : {}),
        ...lock,
        ...(maxStalled !== undefined && Number.isInteger(maxStalled) ? { maxStalledCount: maxStalled } : {}),
        onLine: (line) => say(redact(line)),
      });
    }
    let runs: RunWorkers | undefined;
    if (takeRuns) {
      const capabilities = await capabilityProviders(env);
      closers.push(() => capabilities.close());
      const queues = await CallQueues.open(settings.redisUrl);
      closers.push(() => queues.close());
      const cancels = await CancelWatch.start(redis.redis);
      closers.push(() => cancels.close());
      runs = await startRunWorkers({
        redisUrl: settings.redisUrl,
        concurrency: slots ?? DEFAULT_RUNS,
        ...lock,
        host: {
          registry: createRegistry(),
          providers: capabilities.providers,
          store,
          ledger,
          calls: queues,
          redis: redis.redis,
          cancels,
          redact,
          download: async (url, signal, allowPrivate) => (await safeFetch(url, { signal, allowPrivate, allowedOrigins: capabilities.trustedOrigins })).bytes,
          log: (line) => say(redact(line)),
        },
        onLine: (line) => say(redact(line)),
      });
    }
    say(`worker ready (pid ${process.pid})`);
    await new Promise<void>((done) => {
      process.once('SIGTERM', done);
      process.once('SIGINT', done);
    });
    say('stopping: handing runs back to the queue, finishing the calls in hand, taking no new ones');
    await runs?.close();
    await calls?.close();
    say('worker stopped');
    return EXIT.ok;
  } finally {
    for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => undefined);
  }
}
