/**
 * One contract for both ledgers: the SQLite ledger of one machine and the Postgres ledger of team
 * mode must answer the engine's task hooks the same way, since never paying twice rests on them.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRef } from '../../engine/core/provider';
import type { GeneratedImageRecord, TaskHooks, TaskKey } from '../../engine/core/run-options';
import { Ledger, type FileRow, type HookOptions, type RunRecord, type TaskRow } from '../../engine/store/ledger';
import type { RunMoney } from '../../engine/core/money';
import type { Pipeline } from '../../engine/core/pipeline-schema';
import { PgLedger } from '../../engine/store/pg-ledger';
import pgPkg from 'pg';

const PgClient = pgPkg.Client;
import { startPostgres, type Service } from '../helpers/services';
import { tempDir } from '../helpers/tmp';

interface Backend {
  hooks(runId: string, options?: HookOptions): TaskHooks;
  tasksOf(runId: string): Promise<TaskRow[]>;
  startRun(runId: string): Promise<void>;
  /** A run whose process is gone: status running, lease lapsed. */
  startDeadRun(runId: string): Promise<void>;
  finishRun(runId: string, status: 'done' | 'partial' | 'cancelled'): Promise<RunMoney>;
  getRun(runId: string): Promise<RunRecord | undefined>;
  ambiguousOf(runId: string): Promise<TaskRow[]>;
  failedTasksOf(runId: string): Promise<{ provider: string; request: Record<string, unknown> }[]>;
  filesOf(runId: string): Promise<FileRow[]>;
}

const doc = { version: 1, name: 'contract', nodes: [], edges: [] } as unknown as Pipeline;
/** Short leases, so a dead run reads as dead within the test. */
const LEASE_MS = 400;

const backends: { name: string; open(): Promise<Backend & { close(): Promise<void> }> }[] = [
  {
    name: 'SQLite',
    async open() {
      const dir = tempDir();
      const path = join(dir, 'ledger.sqlite');
      const l = Ledger.open(path, { leaseMs: LEASE_MS });
      return {
        hooks: (r, o) => l.hooks(r, o),
        tasksOf: async (r) => l.tasksOf(r),
        startRun: async (r) => l.startRun({ runId: r, pipeline: doc, options: {} }),
        async startDeadRun(r) {
          // Another process's run whose lease lapsed: its heartbeat stopped long ago.
          l.startRun({ runId: r, pipeline: doc, options: {} });
          (l as unknown as { releaseLease(id: string, clear: boolean): void }).releaseLease(r, false);
          l.db.prepare(`UPDATE runs SET lease_at = ?, lease_pid = NULL WHERE run_id = ?`).run(Date.now() - 10 * LEASE_MS, r);
        },
        finishRun: async (r, status) => l.finishRun({ runId: r, failures: [], status }),
        getRun: async (r) => l.getRun(r),
        ambiguousOf: async (r) => l.ambiguousOf(r),
        failedTasksOf: async (r) => l.failedTasksOf(r),
        filesOf: async (r) => l.filesOf(r),
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
      const l = await PgLedger.open(pg.url, { leaseMs: LEASE_MS });
      return {
        hooks: (r, o) => l.hooks(r, o),
        tasksOf: (r) => l.tasksOf(r),
        startRun: (r) => l.startRun({ runId: r, pipeline: doc, options: {} }),
        async startDeadRun(r) {
          const other = await PgLedger.open(pg.url, { leaseMs: LEASE_MS });
          await other.startRun({ runId: r, pipeline: doc, options: {} });
          // Its process goes away without a word: the heartbeat stops and the lease lapses.
          await other.close();
          await new Promise((done) => setTimeout(done, LEASE_MS + 200));
        },
        finishRun: (r, status) => l.finishRun({ runId: r, failures: [], status }),
        getRun: (r) => l.getRun(r),
        ambiguousOf: (r) => l.ambiguousOf(r),
        failedTasksOf: (r) => l.failedTasksOf(r),
        filesOf: (r) => l.filesOf(r),
        close: () => l.close(),
      };
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
    const third = run();
    expect(await ledger.hooks(third).lookup(key(third, { requestHash: shared, cacheable: false }))).toBeUndefined();
    const fourth = run();
    expect(await ledger.hooks(fourth, { cache: false }).lookup(key(fourth, { requestHash: shared, cacheable: true }))).toBeUndefined();
  });

  it("records a result taken from another run's finished task as shared at $0 under the run that took it, once", async () => {
    const first = run();
    const hash = `taken-${first}`;
    const k1 = key(first, { requestHash: hash, cacheable: true });
    const h1 = ledger.hooks(first);
    await h1.submitting!(k1);
    await h1.submitted(k1, task('t-taken', 0.06));
    await h1.completed(k1, task('t-taken', 0.06), image('e'.repeat(64)));
    const second = run();
    const k2 = key(second, { requestHash: hash, cacheable: true });
    expect(await ledger.hooks(second).lookup(k2)).toEqual({ done: image('e'.repeat(64)), shared: true });
    // Asked again (a resume of the second run): the same answer, no second row.
    expect(await ledger.hooks(second).lookup(k2)).toEqual({ done: image('e'.repeat(64)), shared: true });
    const rows = await ledger.tasksOf(second);
    expect(rows.map((t) => [t.state, t.shared, t.costMicros, t.taskId, t.resultHash])).toEqual([['done', true, 0, 't-taken', 'e'.repeat(64)]]);
    expect(await ledger.hooks(second).runMoney!(second)).toMatchObject({ costMicros: 0, calls: 0, shared: 1 });
    // Its stored bytes turn out damaged: the run makes it again and pays; the shared row goes.
    const h2 = ledger.hooks(second);
    const again = { ...k2, regenerate: true };
    expect(await h2.lookup(again)).toBeUndefined();
    expect(await h2.submitting!(again)).toBe('claimed');
    await h2.submitted(again, task('t-again', 0.06));
    await h2.completed(again, task('t-again', 0.06), image('f'.repeat(64)));
    expect((await ledger.tasksOf(second)).map((t) => [t.shared, t.costMicros, t.taskId])).toEqual([[false, 60_000, 't-again']]);
    expect(await ledger.hooks(second).runMoney!(second)).toMatchObject({ costMicros: 60_000, calls: 1, shared: 0 });
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

  it('reads a submit of another run whose process is gone as ambiguous at once, and one of a live run as busy', async () => {
    const shared = `lease-${run()}`;
    const dead = run();
    await ledger.startDeadRun(dead);
    await ledger.hooks(dead).submitting!(key(dead, { requestHash: shared, cacheable: true }));
    const asker = run();
    expect(await ledger.hooks(asker).lookup(key(asker, { requestHash: shared, cacheable: true }))).toEqual({ interrupted: true, interruptedRun: dead });
    const livelyHash = `live-${shared}`;
    const live = run();
    await ledger.startRun(live);
    await ledger.hooks(live).submitting!(key(live, { requestHash: livelyHash, cacheable: true }));
    expect(await ledger.hooks(asker).lookup(key(asker, { requestHash: livelyHash, cacheable: true }))).toEqual({ busyElsewhere: true });
    expect(await ledger.hooks(asker).submitting!(key(asker, { requestHash: livelyHash, cacheable: true }))).toBe('elsewhere');
    expect((await ledger.getRun(live))?.status).toBe('running');
    expect((await ledger.getRun(dead))?.status).toBe('interrupted');
  });

  it('counts money once: cost of submitted and done tasks, shared results at $0, cut-off submits as unconfirmed', async () => {
    const payer = run();
    await ledger.startRun(payer);
    const hp = ledger.hooks(payer);
    const paid = key(payer, { requestHash: `paid-${payer}`, cacheable: true, expectedUsd: 0.05 });
    await hp.submitting!(paid);
    await hp.submitted(paid, task('m-1', 0.06));
    await hp.completed(paid, task('m-1', 0.06), image('d'.repeat(64), 0.06));
    const estimated = key(payer, { requestHash: `est-${payer}`, item: 1, expectedUsd: 0.03 });
    await hp.submitting!(estimated);
    await hp.submitted(estimated, task('m-2'));
    const cut = key(payer, { requestHash: `cut-${payer}`, item: 2, expectedUsd: 0.04 });
    await hp.submitting!(cut);
    const money = await ledger.finishRun(payer, 'partial');
    expect(money).toMatchObject({ costMicros: 90_000, costEstimated: true, unconfirmed: 1, unconfirmedMicros: 40_000, calls: 3, shared: 0 });
    expect((await ledger.ambiguousOf(payer)).map((t) => t.requestHash)).toEqual([`cut-${payer}`]);
    const taker = run();
    await ledger.startRun(taker);
    const kt = key(taker, { requestHash: `paid-${payer}`, cacheable: true });
    const found = await ledger.hooks(taker).lookup(kt);
    expect(found).toEqual({ done: image('d'.repeat(64), 0.06), shared: true });
    // The cache hit alone is the run's record of it: shared at $0, no call.
    expect(await ledger.hooks(taker).runMoney!(taker)).toMatchObject({ costMicros: 0, calls: 0, shared: 1 });
  });

  it('records the batch row of a task and the files a run wrote, once each', async () => {
    const r = run();
    await ledger.startRun(r);
    const h = ledger.hooks(r);
    const k = key(r, { row: 7 });
    await h.submitting!(k);
    await h.submitted(k, task('f-1'));
    expect((await ledger.tasksOf(r))[0]).toMatchObject({ state: 'submitted', taskId: 'f-1', row: 7 });
    const file = { path: '/out/a.png', imageHash: 'e'.repeat(64), fileSha256: 'f'.repeat(64) };
    await h.fileSaved!(r, 'save', 0, file);
    await h.fileSaved!(r, 'save', 0, file);
    expect(await h.savedFiles!(r, 'save', 0)).toEqual([file]);
    expect(await h.savedFiles!(r, 'save', 1)).toEqual([]);
    expect((await ledger.filesOf(r)).map((f) => [f.nodeId, f.item, f.path])).toEqual([['save', 0, '/out/a.png']]);
    expect((await h.runMoney!(r)).images).toBe(1);
  });

  it('leaves a task the provider failed failed on a resumed batch (keepFailed), and sends it again otherwise', async () => {
    const r = run();
    const h = ledger.hooks(r);
    const k = key(r);
    await h.submitting!(k);
    await h.submitted(k, task('k-1'));
    await h.failed(k, task('k-1'), { code: 'moderated', message: 'refused by moderation' });
    expect(await ledger.hooks(r, { keepFailed: true }).lookup(k)).toEqual({ failed: { code: 'moderated', message: 'refused by moderation' } });
    expect(await ledger.hooks(r).lookup(k)).toBeUndefined();
    expect((await ledger.failedTasksOf(r)).map((t) => t.provider)).toEqual(['bfl']);
  });

  it('sends an ambiguous submit again only when asked, keeping the old intent as superseded', async () => {
    const r = run();
    const k = key(r, { expectedUsd: 0.05 });
    await ledger.hooks(r).submitting!(k);
    expect(await ledger.hooks(r).lookup(k)).toEqual({ interrupted: true });
    const again = ledger.hooks(r, { resubmitAmbiguous: true });
    expect(await again.lookup(k)).toBeUndefined();
    expect(await again.submitting!(k)).toBe('claimed');
    await again.submitted(k, task('s-1', 0.05));
    expect((await ledger.tasksOf(r)).map((t) => [t.state, t.errorCode])).toEqual([
      ['submitting', 'resubmitted'],
      ['submitted', null],
    ]);
    expect(await ledger.ambiguousOf(r)).toEqual([]);
  });
});

describe('the Postgres ledger of the first team-mode release', () => {
  it('is brought up to the current layout: dollar floats become micro-dollars, leases and file records arrive', async () => {
    const admin = new PgClient({ connectionString: pg.url });
    await admin.connect();
    await admin.query('CREATE DATABASE v0');
    await admin.end();
    const url = pg.url.replace(/\/fluxgraph$/, '/v0');
    const old = new PgClient({ connectionString: url });
    await old.connect();
    // The layout stop 15 created (no fluxgraph_schema table).
    await old.query(`
      CREATE TABLE runs (run_id TEXT PRIMARY KEY, name TEXT, pipeline_path TEXT, pipeline_json TEXT NOT NULL, options_json TEXT NOT NULL DEFAULT '{}',
        started_at BIGINT NOT NULL, finished_at BIGINT, status TEXT NOT NULL DEFAULT 'running', cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
        images INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE node_seeds (run_id TEXT NOT NULL, node_id TEXT NOT NULL, seed BIGINT NOT NULL, PRIMARY KEY (run_id, node_id));
      CREATE TABLE tasks (id BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL, node_id TEXT NOT NULL, item INTEGER NOT NULL, request_hash TEXT NOT NULL,
        provider TEXT NOT NULL, account TEXT, model TEXT NOT NULL, node_type TEXT NOT NULL, node_version INTEGER NOT NULL, cacheable BOOLEAN NOT NULL,
        request_json TEXT NOT NULL, state TEXT NOT NULL, task_id TEXT, polling_url TEXT, task_json TEXT, result_hash TEXT, result_json TEXT,
        cost_usd DOUBLE PRECISION, error_code TEXT, error_message TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
      INSERT INTO runs (run_id, pipeline_json, started_at, finished_at, status, cost_usd, images) VALUES ('old', '{}', 1, 2, 'done', 0.1, 2);
      INSERT INTO tasks (run_id, node_id, item, request_hash, provider, model, node_type, node_version, cacheable, request_json, state, task_id, cost_usd, created_at, updated_at)
        VALUES ('old', 'drafts', 0, 'h', 'bfl', 'flex', 'flux-flex-generate', 1, false, '{}', 'done', 't-old', 0.1, 5, 5);
    `);
    await old.end();
    const l = await PgLedger.open(url);
    try {
      expect((await l.tasksOf('old')).map((t) => [t.costMicros, t.submittedAt, t.row])).toEqual([[100_000, 5, null]]);
      expect(await l.getRun('old')).toMatchObject({ status: 'done', costMicros: 100_000, images: 2 });
    } finally {
      await l.close();
    }
  });
});
