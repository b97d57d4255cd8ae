/**
 * What `fluxgraph serve --queue` opens besides the editor: the queue (Redis), the Postgres ledger
 * (runs, tasks, access tokens) and the shared store (with local read-through copies, since images
 * are served by path). Each is checked at start: a problem is one line, and nothing was queued.
 */
import { capabilityProviders } from '../team/capabilities';
import { localCopiesDir, openSharedStore, teamSettings, type SharedStore } from '../team/config';
import { RunQueue } from '../team/run-queue';
import { PgLedger } from '../store/pg-ledger';
import type { HostProviders } from '../host/create-providers';

export interface QueueMode {
  redisUrl: string;
  queue: RunQueue;
  ledger: PgLedger;
  store: SharedStore;
  /** The providers' capabilities only: keys stay with the workers. */
  host: HostProviders;
  close(): Promise<void>;
}

export async function openQueueMode(env: Record<string, string | undefined>, cacheDir: string): Promise<QueueMode> {
  const settings = teamSettings(env, 'serve --queue');
  const closers: (() => Promise<unknown> | unknown)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  try {
    const queue = await RunQueue.open(settings.redisUrl);
    closers.push(() => queue.close());
    const ledger = await PgLedger.open(settings.databaseUrl);
    closers.push(() => ledger.close());
    const store = await openSharedStore(settings.store, env, { localCopies: localCopiesDir(cacheDir) });
    closers.push(() => store.close());
    const host = await capabilityProviders(env);
    closers.push(() => host.close());
    return { redisUrl: settings.redisUrl, queue, ledger, store, host, close };
  } catch (e) {
    await close();
    throw e;
  }
}
