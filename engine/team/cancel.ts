/**
 * Cancelling a run in the queue (`fluxgraph queue cancel`, Ctrl-C on `run --queue`, the editor's
 * Stop): a flag that call workers check before they send anything of the run, and a message on
 * one channel that the run's coordinator, wherever it is, acts on at once. The coordinator then
 * stops the way a local run stops on Ctrl-C: no new submits, what is on the wire finishes and is
 * recorded, and the run stays resumable (`fluxgraph queue retry`).
 */
import type { Redis } from 'ioredis';
import { cancelKey } from './call-job';

export const CANCEL_CHANNEL = 'fluxgraph:cancel';
const CANCEL_TTL_SEC = 7 * 24 * 3600;

export async function requestCancel(redis: Redis, runId: string): Promise<void> {
  await redis.set(cancelKey(runId), String(Date.now()), 'EX', CANCEL_TTL_SEC);
  await redis.publish(CANCEL_CHANNEL, runId);
}

export async function clearCancel(redis: Redis, runId: string): Promise<void> {
  await redis.del(cancelKey(runId));
}

export async function isCancelled(redis: Redis, runId: string): Promise<boolean> {
  return (await redis.exists(cancelKey(runId))) === 1;
}

/** One subscriber connection per process, handing each cancel to the run it names. */
export class CancelWatch {
  private readonly handlers = new Map<string, () => void>();

  private constructor(private readonly sub: Redis) {}

  static async start(redis: Redis): Promise<CancelWatch> {
    const sub = redis.duplicate({ lazyConnect: false, enableOfflineQueue: true, maxRetriesPerRequest: null });
    sub.on('error', () => undefined);
    const watch = new CancelWatch(sub);
    sub.on('message', (_channel: string, runId: string) => watch.handlers.get(runId)?.());
    await sub.subscribe(CANCEL_CHANNEL);
    return watch;
  }

  /** Calls `onCancel` when the run is cancelled; returns the way to stop watching. */
  watch(runId: string, onCancel: () => void): () => void {
    this.handlers.set(runId, onCancel);
    return () => {
      if (this.handlers.get(runId) === onCancel) this.handlers.delete(runId);
    };
  }

  async close(): Promise<void> {
    await this.sub.quit().catch(() => this.sub.disconnect());
  }
}
