/**
 * One contract for both ledgers: the SQLite ledger of one machine and the Postgres ledger of team
 * mode must answer the engine's task hooks the same way, since never paying twice rests on them.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRef } from '../../engine/core/provider';
import type { GeneratedImageRecord, TaskHooks, TaskKey } from '../../engine/core/run-options';
import { Ledger, type HookOptions, type TaskRow } from '../../engine/store/ledger';
import { PgLedger } from '../../engine/store/pg-ledger';
import { startPostgres, type Service } from '../helpers/services';
import { tempDir } from '../helpers/tmp';

interface Backend {
  hooks(runId: string, options?: HookOptions): TaskHooks;
  tasksOf(runId: string): Promise<TaskRow[]>;
}

const backends: { name: string; open(): Promise<Backend & { close(): Promise<void> }> }[] = [
  {
    name: 'SQLite',
    async open() {
      const dir = tempDir();
      const l = Ledger.open(join(dir, 'ledger.sqlite'));
      return {
        hooks: (r, o) => l.hooks(r, o),
        tasksOf: async (r) => l.tasksOf(r),
        async close() {
          l.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'Postgres',
    async open() {
      const l = await PgLedger.open(pg.url);
      return { hooks: (r, o) => l.hooks(r, o), tasksOf: (r) => l.tasksOf(r), close: () => l.close() };
    },
  },
];

let pg: Service;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
});

let n = 0;
function key(runId: string, over: Partial<TaskKey> = {}): TaskKey {
  return {
    runId,
    nodeId: 'drafts',
    item: 0,
    provider: 'bfl',
    nodeType: 'flux-flex-generate',
    nodeVersion: 1,
    cacheable: false,
    requestHash: `hash-${runId}`,
    request: { model: 'flex', prompt: 'a lighthouse', seed: 7, referenceHashes: [] },
    ...over,
  };
}
const task = (id: string, costUsd?: number): TaskRef => ({ provider: 'bfl', model: 'flex', taskId: id, submittedAt: 1, ...(costUsd !== undefined ? { costUsd } : {}) });
const image = (hash: string, costUsd = 0.06): GeneratedImageRecord => ({ hash, width: 1024, height: 1024, mime: 'image/png', costUsd });

describe.each(backends)('the $name ledger', (backend) => {
  let ledger: Backend & { close(): Promise<void> };
  beforeAll(async () => {
    ledger = await backend.open();
  });
  afterAll(async () => {
    await ledger.close();
  });
  const run = () => `run-${backend.name}-${++n}`;

  it('re-attaches a resumed run to the task it submitted instead of submitting again', async () => {
    const r = run();
    const h = ledger.hooks(r);
    const k = key(r);
    expect(await h.submitting!(k)).toBe('claimed');
    await h.submitted(k, task('t-1', 0.06));
    expect(await ledger.hooks(r).lookup(k)).toEqual({ inFlight: task('t-1', 0.06) });
  });

  it('reads a claim that never got its task id as interrupted, never as free to send again', async () => {
    const r = run();
    const k = key(r);
    await ledger.hooks(r).submitting!(k);
    expect(await ledger.hooks(r).lookup(k)).toEqual({ interrupted: true });
  });

  it('returns the stored result of a finished task, with its cost', async () => {
    const r = run();
    const h = ledger.hooks(r);
    const k = key(r);
    await h.submitting!(k);
    await h.submitted(k, task('t-2'));
    await h.completed(k, task('t-2'), image('a'.repeat(64)));
    expect(await h.lookup(k)).toEqual({ done: image('a'.repeat(64)) });
    const rows = await ledger.tasksOf(r);
    expect(rows.map((t) => [t.state, t.taskId, t.costMicros, t.resultHash])).toEqual([['done', 't-2', 60_000, 'a'.repeat(64)]]);
  });

  it('serves a cacheable request from another run, but never an uncacheable one', async () => {
    const first = run();
    const shared = `shared-${first}`;
    const k1 = key(first, { requestHash: shared, cacheable: true });
    const h1 = ledger.hooks(first);
    await h1.submitting!(k1);
    await h1.submitted(k1, task('t-3'));
    await h1.completed(k1, task('t-3'), image('b'.repeat(64)));
    const second = run();
    expect(await ledger.hooks(second).lookup(key(second, { requestHash: shared, cacheable: true }))).toEqual({ done: image('b'.repeat(64)), shared: true });
    expect(await ledger.hooks(second).lookup(key(second, { requestHash: shared, cacheable: false }))).toBeUndefined();
    expect(await ledger.hooks(second, { cache: false }).lookup(key(second, { requestHash: shared, cacheable: true }))).toBeUndefined();
  });

  it('lets exactly one of many runs claim the same cacheable request at once', async () => {
    const shared = `race-${run()}`;
    const runs = Array.from({ length: 8 }, () => run());
    const claims = await Promise.all(runs.map((r) => ledger.hooks(r).submitting!(key(r, { requestHash: shared, cacheable: true }))));
    expect(claims.filter((c) => c === 'claimed')).toHaveLength(1);
    expect(claims.filter((c) => c === 'elsewhere')).toHaveLength(7);
  });

  it('keeps a task that may still finish submitted, so a resume waits on it again', async () => {
    const r = run();
    const h = ledger.hooks(r);
    const k = key(r);
    await h.submitting!(k);
    await h.submitted(k, task('t-4'));
    await h.failed(k, task('t-4'), { code: 'timeout', message: 'still pending', details: { resumable: true } });
    expect(await h.lookup(k)).toEqual({ inFlight: task('t-4') });
    await h.failed(k, task('t-4'), { code: 'moderated', message: 'refused' });
    expect((await ledger.tasksOf(r)).map((t) => t.state)).toEqual(['failed']);
  });

  it('records a task another run paid for at no cost under the run that waited on it', async () => {
    const payer = run();
    const shared = `wait-${payer}`;
    const hp = ledger.hooks(payer);
    const kp = key(payer, { requestHash: shared, cacheable: true });
    await hp.submitting!(kp);
    await hp.submitted(kp, task('t-5', 0.06));
    const waiter = run();
    const kw = key(waiter, { requestHash: shared, cacheable: true });
    expect(await ledger.hooks(waiter).lookup(kw)).toEqual({ inFlight: task('t-5', 0.06), shared: true });
    await ledger.hooks(waiter).completed(kw, task('t-5', 0.06), image('c'.repeat(64)));
    expect((await ledger.tasksOf(waiter)).map((t) => [t.state, t.costMicros])).toEqual([['done', 0]]);
  });

  it('keeps the seed a node drew, and reuses an earlier run’s seeds when asked', async () => {
    const r = run();
    expect(await ledger.hooks(r).nodeSeed!(r, 'drafts', 42)).toEqual({ seed: 42, reused: false });
    expect(await ledger.hooks(r).nodeSeed!(r, 'drafts', 99)).toEqual({ seed: 42, reused: true });
    const later = run();
    expect(await ledger.hooks(later, { seedsFrom: r }).nodeSeed!(later, 'drafts', 7)).toEqual({ seed: 42, reused: true });
  });
});
