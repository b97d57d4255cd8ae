/**
 * A run's events in a Redis stream of its own (`fluxgraph:events:<runId>`), so whoever follows the
 * run (`run --queue`, the editor through `serve --queue`) reads them from Redis, not from the
 * process that runs it: a coordinator that dies is continued by another, and a server restart
 * loses nothing. Entry ids are `<n>-0` with n counting from 1 across every coordinator of the run
 * (one Lua step increments and appends), so `n` is the SSE event id and `Last-Event-ID` replay
 * is an XREAD from it. The stream is trimmed to about {@link EVENTS_KEPT} entries and expires
 * {@link EVENTS_TTL_SEC} after the run ends.
 */
import type { Redis } from 'ioredis';
import type { RunEvent } from '../core/events';

export const EVENTS_KEPT = 50_000;
export const EVENTS_TTL_SEC = 7 * 24 * 3600;

export function eventsKey(runId: string): string {
  return `fluxgraph:events:${runId}`;
}

const APPEND = `
local n = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], n .. '-0', 'e', ARGV[2])
return n`;

type Appender = Redis & { fluxgraphAppend(stream: string, counter: string, kept: string, json: string): Promise<number> };

function appender(redis: Redis): Appender {
  const r = redis as Appender;
  if (typeof r.fluxgraphAppend !== 'function') redis.defineCommand('fluxgraphAppend', { numberOfKeys: 2, lua: APPEND });
  return r;
}

/** The writing side: appends in order, in batches (one round trip per batch, not per event). */
export class RunEventLog {
  private readonly redis: Appender;
  private buffer: string[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private scheduled = false;
  private failure: Error | undefined;

  constructor(
    redis: Redis,
    private readonly runId: string,
    private readonly redact: (text: string) => string = (t) => t,
  ) {
    this.redis = appender(redis);
  }

  append(e: RunEvent): void {
    this.buffer.push(this.redact(JSON.stringify(e)));
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  /** Everything appended so far is in Redis when this resolves (or it rejects with why not). */
  flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length) {
      this.flushing = this.flushing.then(async () => {
        const p = this.redis.pipeline();
        const key = eventsKey(this.runId);
        for (const json of batch) (p as unknown as Appender).fluxgraphAppend(key, `${key}:n`, String(EVENTS_KEPT), json);
        const out = await p.exec();
        const err = out?.find(([e]) => e)?.[0];
        if (err) this.failure = err;
      });
    }
    return this.flushing.then(() => {
      if (this.failure) throw this.failure;
    });
  }

  /** The run ended: flush, and let the stream expire in {@link EVENTS_TTL_SEC}. */
  async end(): Promise<void> {
    await this.flush();
    const key = eventsKey(this.runId);
    await this.redis.multi().expire(key, EVENTS_TTL_SEC).expire(`${key}:n`, EVENTS_TTL_SEC).exec();
  }
}

/** Appends one event outside a coordinator (a run cancelled before it started). */
export async function appendRunEvent(redis: Redis, runId: string, e: RunEvent): Promise<void> {
  const log = new RunEventLog(redis, runId);
  log.append(e);
  await log.end();
}

export interface SeqEvent {
  seq: number;
  event: RunEvent;
}

/**
 * The run's events after `after` (0: from the start), then live ones, until `signal` aborts. Uses
 * its own blocking connection (`redis.duplicate()`), closed at the end.
 */
export async function* followRunEvents(redis: Redis, runId: string, after: number, signal: AbortSignal, blockMs = 1000): AsyncGenerator<SeqEvent> {
  const conn = redis.duplicate({ lazyConnect: false, enableOfflineQueue: true, maxRetriesPerRequest: null });
  conn.on('error', () => undefined);
  const onAbort = () => conn.disconnect();
  signal.addEventListener('abort', onAbort, { once: true });
  let cursor = `${after}-0`;
  try {
    while (!signal.aborted) {
      let got: [string, [string, string[]][]][] | null;
      try {
        got = (await conn.xread('COUNT', 500, 'BLOCK', blockMs, 'STREAMS', eventsKey(runId), cursor)) as typeof got;
      } catch (e) {
        if (signal.aborted) return;
        throw e;
      }
      for (const [, entries] of got ?? []) {
        for (const [id, fields] of entries) {
          cursor = id;
          const json = fields[fields.indexOf('e') + 1];
          yield { seq: Number(id.split('-')[0]), event: JSON.parse(json) as RunEvent };
        }
      }
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    conn.disconnect();
  }
}

/** The last event's number (0 when the stream is empty or gone). */
export async function lastEventSeq(redis: Redis, runId: string): Promise<number> {
  const n = await redis.get(`${eventsKey(runId)}:n`);
  return n ? Number(n) : 0;
}
