/**
 * The one-machine proof of team mode (scale-out.md): 3 worker processes, 2 accounts with small
 * caps, a few hundred calls on the emulator, kill -9 of a worker holding submitted tasks. Then:
 * exactly one task per call at the emulator, every orphaned task re-attached, only submits cut off
 * on the wire ambiguous, the peak of active tasks per account never above its cap, and every
 * stored image re-hashes. Negative controls show that the checks can fail.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEngineError } from '../../engine/core/errors';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { callQueueName, type CallJobData } from '../../engine/team/call-job';
import { CallQueues } from '../../engine/team/call-queues';
import { Queue } from 'bullmq';
import { startRig, startWorker, stopWorkers, until, type Rig, type WorkerProc } from './helpers';

const CAP = 4;

function calls(runId: string, n: number, prompt = 'a lighthouse'): Omit<CallJobData, 'account'>[] {
  return Array.from({ length: n }, (_, i) => ({
    provider: 'bfl',
    request: { model: 'flex' as const, prompt: `${prompt} ${i}`, seed: 1000 + i, width: 512, height: 512, references: [] },
    call: { runId, nodeId: 'drafts', nodeType: 'flux-flex-generate', nodeVersion: 1, cacheable: false, item: i },
    taskTimeoutMs: 120_000,
    cache: true,
  }));
}

async function settle<T>(ps: Promise<T>[]): Promise<{ ok: T[]; failed: unknown[] }> {
  const all = await Promise.allSettled(ps);
  return { ok: all.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])), failed: all.flatMap((r) => (r.status === 'rejected' ? [r.reason] : [])) };
}

describe('team mode on one machine', () => {
  let rig: Rig;
  beforeAll(async () => {
    // 1 s per task: a killed worker surely holds submitted tasks at the moment it is killed.
    rig = await startRig({ latencyMs: 1000, activeTaskCap: CAP });
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('holds each account’s cap across 3 workers and pays once per call when a worker holding tasks is killed', async () => {
    const env = { ...rig.env, BFL_API_KEYS: 'acctA:key-a,acctB:key-b' };
    const workers: WorkerProc[] = [];
    for (let i = 0; i < 3; i++) workers.push(await startWorker(['--concurrency', `bfl=${CAP}`], env));
    const queues = await CallQueues.open(rig.redis.url);
    const db = new pg.Client({ connectionString: rig.pg.url });
    await db.connect();
    try {
      const work = calls('proof', 160);
      const pending = work.map((c) => queues.call(c));
      const settled = settle(pending);

      // Kill a worker while it holds submitted tasks: find its active jobs and their ledger rows.
      const victim = workers[0];
      const victimName = `fluxgraph-worker-${victim.child.pid}`;
      let orphans: { node_id: string; item: number; task_id: string }[] = [];
      await until('the victim to hold submitted tasks', async () => {
        if (rig.emulator.stats().submissions.bfl < 24) return false;
        const items: number[] = [];
        for (const acct of ['acctA', 'acctB']) {
          const q = new Queue(callQueueName('bfl', acct), { connection: { url: rig.redis.url } });
          for (const job of await q.getJobs(['active'])) if (job.processedBy === victimName) items.push((job.data as CallJobData).call.item);
          await q.close();
        }
        if (items.length === 0) return false;
        const rows = await db.query(`SELECT node_id, item, task_id FROM tasks WHERE run_id = 'proof' AND state = 'submitted' AND item = ANY($1)`, [items]);
        orphans = rows.rows;
        return orphans.length > 0;
      }, 60_000);
      victim.child.kill('SIGKILL');
      await victim.exited;

      const { ok, failed } = await settled;
      const stats = rig.emulator.stats();

      // Only submits cut off on the wire may be ambiguous; everything else finished.
      for (const f of failed) expect(isEngineError(f) && f.code === 'ambiguous_submit', String(f)).toBe(true);
      expect(ok.length + failed.length).toBe(160);
      expect(failed.length).toBeLessThanOrEqual(CAP * 2);
      // Exactly one task per call at the emulator: nothing was paid twice.
      expect(Object.values(stats.requestCounts).every((n) => n === 1)).toBe(true);
      expect(stats.submissions.bfl).toBe(ok.length + (await db.query(`SELECT count(*)::int AS n FROM tasks WHERE run_id = 'proof' AND state = 'submitting'`)).rows[0].n);
      // Every orphaned submitted task was re-attached by another worker: done, same task id.
      const after = await db.query(`SELECT item, state, task_id FROM tasks WHERE run_id = 'proof' AND item = ANY($1)`, [orphans.map((o) => o.item)]);
      for (const o of orphans) expect(after.rows.find((r) => r.item === o.item)).toMatchObject({ state: 'done', task_id: o.task_id });
      // The peak of active tasks per account never passed its cap, and the cap was never hit at the provider.
      expect(Object.values(stats.peakActive.bfl).length).toBe(2);
      for (const peak of Object.values(stats.peakActive.bfl)) expect(peak).toBeLessThanOrEqual(CAP);
      expect(stats.capRejections.bfl).toBe(0);
      // Every stored image re-hashes to its name (the store reads and checks).
      const store = new FileArtifactStore(rig.storeDir);
      for (const asset of ok) await expect(store.read(asset.hash)).resolves.toBeInstanceOf(Buffer);
    } finally {
      await db.end();
      await queues.close();
      await stopWorkers(workers);
    }
  }, 180_000);

  it('a 429 pauses the account for every worker, and every call still finishes once', async () => {
    const env = { ...rig.env, BFL_API_KEYS: 'limited:key-limited' };
    const workers: WorkerProc[] = [];
    for (let i = 0; i < 2; i++) workers.push(await startWorker(['--concurrency', `bfl=${CAP}`], env));
    const queues = await CallQueues.open(rig.redis.url);
    rig.emulator.setFaults({ submit: { rate429: 0.3, retryAfterSec: 1 } });
    try {
      const before = rig.emulator.stats();
      const { ok, failed } = await settle(calls('limited', 30, 'rate limited').map((c) => queues.call(c)));
      const after = rig.emulator.stats();
      expect(failed).toEqual([]);
      expect(ok).toHaveLength(30);
      expect(after.injected.submit.rate429).toBeGreaterThan(before.injected.submit.rate429);
      expect(after.submissions.bfl - before.submissions.bfl).toBe(30);
      expect(Object.values(after.requestCounts).every((n) => n === 1)).toBe(true);
    } finally {
      rig.emulator.setFaults({});
      await queues.close();
      await stopWorkers(workers);
    }
  }, 180_000);

  it('SIGTERM on a worker finishes the calls in hand and takes no new ones, leaving nothing ambiguous', async () => {
    const env = { ...rig.env, BFL_API_KEYS: 'graceful:key-graceful' };
    const first = await startWorker(['--concurrency', `bfl=${CAP}`], env);
    const queues = await CallQueues.open(rig.redis.url);
    const db = new pg.Client({ connectionString: rig.pg.url });
    await db.connect();
    let second: WorkerProc | undefined;
    try {
      const start = rig.emulator.stats().submissions.bfl;
      const settled = settle(calls('graceful', 16, 'graceful').map((c) => queues.call(c)));
      await until('the first submits', () => rig.emulator.stats().submissions.bfl - start >= 2);
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      const byFirst = rig.emulator.stats().submissions.bfl - start;
      expect(byFirst).toBeLessThan(16);
      second = await startWorker(['--concurrency', `bfl=${CAP}`], env);
      const { ok, failed } = await settled;
      expect(failed).toEqual([]);
      expect(ok).toHaveLength(16);
      const rows = await db.query(`SELECT state, count(*)::int AS n FROM tasks WHERE run_id = 'graceful' GROUP BY state`);
      expect(rows.rows).toEqual([{ state: 'done', n: 16 }]);
    } finally {
      await db.end();
      await queues.close();
      await stopWorkers([first, ...(second ? [second] : [])]);
    }
  }, 180_000);

  it('negative control: without the queue’s global cap, the workers pass the account’s cap and the provider refuses', async () => {
    const env = { ...rig.env, BFL_API_KEYS: 'nocap:key-nocap', FIXTURE_NO_GLOBAL_CAP: '1', FIXTURE_SLOTS: '4' };
    const workers: WorkerProc[] = [];
    for (let i = 0; i < 3; i++) workers.push(await startWorker([], env, 'test/team/fixtures/call-worker.ts'));
    const queues = await CallQueues.open(rig.redis.url);
    try {
      const before = rig.emulator.stats().capRejections.bfl;
      void settle(calls('control-cap', 36, 'no cap').map((c) => queues.call(c)));
      // 3 workers × 4 slots on an account whose cap is 4: the provider's own refusals appear.
      await until('the emulator to refuse past the cap', () => rig.emulator.stats().capRejections.bfl > before, 60_000);
    } finally {
      await queues.close();
      await stopWorkers(workers);
    }
  }, 180_000);

  it('negative control: without the ledger’s claim, a job re-delivered after its worker died pays twice', async () => {
    const env = { ...rig.env, BFL_API_KEYS: 'noledger:key-noledger', FIXTURE_NO_LEDGER: '1' };
    const workers: WorkerProc[] = [];
    for (let i = 0; i < 2; i++) workers.push(await startWorker([], env, 'test/team/fixtures/call-worker.ts'));
    const queues = await CallQueues.open(rig.redis.url);
    try {
      const dupes = () => Object.values(rig.emulator.stats().requestCounts).filter((n) => n > 1).length;
      expect(dupes()).toBe(0);
      const start = rig.emulator.stats().submissions.bfl;
      const settled = settle(calls('control-ledger', 24, 'no ledger').map((c) => queues.call(c)));
      const victim = workers[0];
      const victimName = `fluxgraph-worker-${victim.child.pid}`;
      await until('the victim to hold a submitted task', async () => {
        if (rig.emulator.stats().submissions.bfl - start < 3) return false;
        const q = new Queue(callQueueName('bfl', 'noledger'), { connection: { url: rig.redis.url } });
        const held = (await q.getJobs(['active'])).filter((j) => j.processedBy === victimName).length;
        await q.close();
        return held > 0;
      }, 60_000);
      victim.child.kill('SIGKILL');
      await settled;
      expect(dupes()).toBeGreaterThan(0);
    } finally {
      await queues.close();
      await stopWorkers(workers);
    }
  }, 180_000);
});
