/**
 * `fluxgraph worker`: takes provider-call jobs of team mode from Redis, for every provider account
 * whose key this machine has. Any number of workers on any machine; each account's cap holds
 * across all of them. SIGTERM (or Ctrl-C) finishes the calls in hand and takes no new ones.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EngineError } from '../core/errors';
import { allAccounts } from '../host/accounts';
import { loadEnv } from '../host/env';
import { FileArtifactStore } from '../store/artifacts';
import { PgLedger } from '../store/pg-ledger';
import { accountProviders } from '../team/account-providers';
import { startCallWorkers } from '../team/call-worker';
import { parseConcurrency } from './args';
import { EXIT, fail } from './exit';
import { COMMAND_HELP } from './usage';

const PROVIDERS = ['bfl', 'kie', 'novita', 'crun'];

export async function runWorkerCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { concurrency: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
  if (values.help) {
    process.stdout.write(COMMAND_HELP.worker + '\n');
    return EXIT.ok;
  }
  const local = (values.concurrency ?? []).filter((v) => /^\d+$/.test(v));
  const caps = parseConcurrency((values.concurrency ?? []).filter((v) => !/^\d+$/.test(v)), PROVIDERS);
  const slots = local.length ? Number(local[local.length - 1]) : undefined;
  if (slots !== undefined && (slots < 1 || slots > 1000)) return fail(`--concurrency ${slots}: must be between 1 and 1000`);

  const env = loadEnv(process.cwd());
  const need = (name: string, what: string) => {
    const v = env[name]?.trim();
    if (!v) throw new EngineError('usage', `${name} is not set: a worker needs ${what}`);
    return v;
  };
  const redisUrl = need('FLUXGRAPH_REDIS_URL', 'the team queue (e.g. redis://127.0.0.1:6379)');
  const databaseUrl = need('FLUXGRAPH_DATABASE_URL', 'the Postgres ledger (e.g. postgres://user@host/fluxgraph)');
  const storeSpec = need('FLUXGRAPH_STORE', 'a store every machine shares (a shared folder)');
  if (/^s3:\/\//i.test(storeSpec)) throw new EngineError('usage', `FLUXGRAPH_STORE=${storeSpec}: an s3:// store is not supported by workers yet; use a folder every machine mounts`);
  const accounts = allAccounts(env);
  if (accounts.length === 0) throw new EngineError('usage', 'no provider key is set: set BFL_API_KEY or BFL_API_KEYS=teamA:<key>,teamB:<key> (or those of kie, novita, crun)');

  const ledger = await PgLedger.open(databaseUrl);
  const hosts: { close(): Promise<void> }[] = [];
  const say = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const served = [];
    for (const account of accounts) {
      const host = await accountProviders(account, env);
      hosts.push(host);
      const adapter = host.only.get(account.provider)!;
      served.push({ provider: account.provider, name: account.name, cap: caps[account.provider] ?? adapter.capabilities.defaultConcurrency, providers: host.only });
    }
    const lockMs = Number(env.FLUXGRAPH_QUEUE_LOCK_MS) || undefined;
    const workers = await startCallWorkers({
      redisUrl,
      accounts: served,
      store: new FileArtifactStore(resolve(storeSpec)),
      tasksFor: (runId, o) => ledger.hooks(runId, { account: o.account, cache: o.cache }),
      ...(slots ? { concurrency: slots } : {}),
      ...(lockMs ? { lockDurationMs: lockMs, stalledIntervalMs: Math.max(500, Math.floor(lockMs / 2)) } : {}),
      onLine: say,
    });
    say(`worker ready (pid ${process.pid})`);
    await new Promise<void>((done) => {
      process.once('SIGTERM', done);
      process.once('SIGINT', done);
    });
    say('stopping: finishing the calls in hand, taking no new ones');
    await workers.close();
    say('worker stopped');
    return EXIT.ok;
  } finally {
    for (const h of hosts) await h.close().catch(() => undefined);
    await ledger.close().catch(() => undefined);
  }
}
