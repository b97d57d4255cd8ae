/**
 * The Redis connection of team mode, checked at start the way BullMQ requires it: an eviction
 * policy other than `noeviction` can silently drop queued jobs (and with them paid work), so it is
 * a clear error, not a risk; a missing append-only file is a warning (a Redis restart would lose
 * the queue, though the ledger still knows every paid task).
 */
import { Redis } from 'ioredis';
import { EngineError } from '../core/errors';

export interface RedisHandle {
  redis: Redis;
  warnings: string[];
  close(): Promise<void>;
}

/** Shows a Redis URL without its password. */
export function showRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'FLUXGRAPH_REDIS_URL (not a valid URL)';
  }
}

/**
 * Connects, checks the configuration, and fails fast (within `timeoutMs`) with one line naming
 * the URL and what is wrong. BullMQ needs `maxRetriesPerRequest: null` on its connections.
 */
export async function connectRedis(url: string, opts: { timeoutMs?: number } = {}): Promise<RedisHandle> {
  const shown = showRedisUrl(url);
  let redis: Redis;
  try {
    redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true, connectTimeout: opts.timeoutMs ?? 5000, retryStrategy: () => null, enableOfflineQueue: false });
  } catch (e) {
    throw new EngineError('usage', `FLUXGRAPH_REDIS_URL ${shown} is not a Redis URL: ${(e as Error).message}`);
  }
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    throw new EngineError('usage', `cannot reach Redis at ${shown} (FLUXGRAPH_REDIS_URL): ${(e as Error).message}`);
  }
  const warnings: string[] = [];
  try {
    const policy = await configGet(redis, 'maxmemory-policy');
    if (policy !== undefined && policy !== 'noeviction') {
      throw new EngineError(
        'usage',
        `Redis at ${shown} has maxmemory-policy "${policy}": it may evict queued jobs. Set "maxmemory-policy noeviction" in redis.conf (or CONFIG SET maxmemory-policy noeviction), as BullMQ requires`,
      );
    }
    const aof = await configGet(redis, 'appendonly');
    if (aof !== undefined && aof !== 'yes') warnings.push(`Redis at ${shown} runs without "appendonly yes": a Redis restart would lose queued jobs (the ledger still knows every paid task)`);
  } catch (e) {
    redis.disconnect();
    if (e instanceof EngineError) throw e;
    const msg = (e as Error).message;
    if (/NOAUTH|WRONGPASS|invalid password/i.test(msg)) throw new EngineError('usage', `Redis at ${shown} refused the credentials in FLUXGRAPH_REDIS_URL: ${msg}`);
    throw new EngineError('usage', `Redis at ${shown} did not answer the configuration check: ${msg}`);
  }
  // Later connection problems are retried by BullMQ; the first one was already a clear error.
  redis.options.retryStrategy = (times: number) => Math.min(times * 200, 2000);
  // From now on a command during a reconnect waits for it instead of failing.
  redis.options.enableOfflineQueue = true;
  return {
    redis,
    warnings,
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** CONFIG GET, or undefined where the server refuses it (managed Redis often does). */
async function configGet(redis: Redis, name: string): Promise<string | undefined> {
  try {
    const got = (await redis.config('GET', name)) as string[];
    return got.length >= 2 ? String(got[1]) : undefined;
  } catch (e) {
    if (/unknown command|NOPERM/i.test((e as Error).message)) return undefined;
    throw e;
  }
}
