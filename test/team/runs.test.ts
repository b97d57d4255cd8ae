/**
 * Team mode's run layer, with real processes: `run --queue` enqueues a run and follows its events
 * from Redis; workers coordinate runs and make calls; a coordinator killed mid-run (and a call
 * job BullMQ moved to failed after its worker died) is continued by another worker without paying
 * twice; SIGTERM hands runs back; Ctrl-C cancels in the queue; `queue` lists, cancels and retries.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { callQueueName, type CallJobData } from '../../engine/team/call-job';

import { cleanEnv, cli, ROOT } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';
import { startRig, startWorker, stopWorkers, until, type Rig, type WorkerProc } from './helpers';

const CAP = 4;
/** The emulator refuses past CAP active tasks per key: workers hold each account to it. */
const CAPPED = ['--concurrency', `bfl=${CAP}`];

/** A pipeline of `count` paid drafts, each saved: one provider call per image. */
function pipelineFile(dir: string, name: string, count: number): string {
  const doc = {
    version: 1,
    name,
    settings: { provider: 'bfl' },
    nodes: [
      { id: 'idea', type: 'prompt', params: { text: `a lighthouse, ${name}` } },
      { id: 'drafts', type: 'flux-flex-generate', params: { width: 512, height: 512, count } },
      { id: 'save', type: 'save-image', params: { template: '{run}/draft-{index}' } },
    ],
    edges: [
      { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
      { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
    ],
  };
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

interface Follower {
  child: ChildProcess;
  events: RunEvent[];
  stderr: () => string;
  exited: Promise<number | null>;
}

/** `fluxgraph run <file> --queue --json`, its NDJSON events collected as they come. */
function runQueued(file: string, env: Record<string, string>, cwd: string, extra: string[] = []): Follower {
  const child = spawn(process.execPath, [join(ROOT, 'bin/fluxgraph.mjs'), 'run', file, '--queue', '--json', '--out', join(cwd, 'out'), ...extra], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const events: RunEvent[] = [];
  let pending = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    pending += d;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const l of lines) if (l.trim()) events.push(JSON.parse(l) as RunEvent);
  });
  child.stderr!.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, events, stderr: () => err, exited };
}

/** What a failed expectation shows: the follower's errors and events, the workers' lines. */
function explain(f: Follower, workers: WorkerProc[]): string {
  const events = f.events.filter((e) => e.type !== 'nodeProgress').map((e) => JSON.stringify(e).slice(0, 300));
  return [f.stderr(), ...events.slice(-40), ...workers.map((w) => w.output())].join('\n');
}

const runIdOf = (f: Follower) => (f.events.find((e) => e.type === 'runStart') as { runId: string } | undefined)?.runId;

describe('team mode: runs in the queue', () => {
  let rig: Rig;
  let db: pg.Client;
  let work: string;
  const workers: WorkerProc[] = [];
  beforeAll(async () => {
    rig = await startRig({ latencyMs: 1000, activeTaskCap: CAP });
    db = new pg.Client({ connectionString: rig.pg.url });
    await db.connect();
    work = tempDir('fluxgraph-team-runs-');
  });
  afterEach(async () => {
    await stopWorkers(workers.splice(0));
  });
  afterAll(async () => {
    await db?.end();
    await rig?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const tasks = async (runId: string) => (await db.query(`SELECT item, state, task_id, request_hash FROM tasks WHERE run_id = $1 ORDER BY item`, [runId])).rows as { item: number; state: string; task_id: string | null; request_hash: string }[];
  const activeBy = async (queueName: string, worker: WorkerProc) => {
    const q = new Queue(queueName, { connection: { url: rig.redis.url } });
    try {
      return (await q.getJobs(['active'])).filter((j) => j.processedBy?.endsWith(`-${worker.child.pid}`));
    } finally {
      await q.close();
    }
  };

  it('a coordinator killed mid-run, with a call worker killed holding submitted tasks, is continued by other workers: every call paid once, exit 0', async () => {
    const env = { ...rig.env, BFL_API_KEYS: 'acctA:key-a' };
    const coordinator = await startWorker(['--runs'], env);
    workers.push(coordinator);
    // The victim holds at most 2 calls, and BullMQ moves a call job whose worker died straight to failed.
    const victim = await startWorker(['--calls', '--concurrency', '2', '--concurrency', `bfl=${CAP}`], { ...env, FLUXGRAPH_QUEUE_MAX_STALLED: '0' });
    workers.push(victim);
    const before = rig.emulator.stats().submissions.bfl;
    const run = runQueued(pipelineFile(work, 'takeover', 12), env, work);
    // Kill both when the victim's two calls are submitted (so none is cut off on the wire).
    let orphans: { item: number; task_id: string }[] = [];
    await until('the call worker to hold two submitted tasks', async () => {
      const runId = runIdOf(run);
      if (!runId) return false;
      const held = (await activeBy(callQueueName('bfl', 'acctA'), victim)).map((j) => (j.data as CallJobData).call.item);
      if (held.length < 2) return false;
      const rows = (await tasks(runId)).filter((t) => held.includes(t.item));
      if (rows.length < 2 || rows.some((t) => t.state !== 'submitted')) return false;
      orphans = rows.map((t) => ({ item: t.item, task_id: t.task_id! }));
      return true;
    }, 60_000);
    victim.child.kill('SIGKILL');
    coordinator.child.kill('SIGKILL');
    await Promise.all([victim.exited, coordinator.exited]);
    workers.push(await startWorker(['--runs'], env), await startWorker(['--calls', `--concurrency`, `bfl=${CAP}`], env));

    const code = await run.exited;
    expect(code, explain(run, workers)).toBe(0);
    const runId = runIdOf(run)!;
    const done = run.events.find((e) => e.type === 'runDone') as Extract<RunEvent, { type: 'runDone' }>;
    expect(done.summary).toMatchObject({ status: 'done', providerCalls: 12 });
    expect(run.events.some((e) => e.type === 'warning' && /continues it/.test(e.message))).toBe(true);
    // Exactly one task per call at the emulator; the orphans were re-attached with their task ids.
    const stats = rig.emulator.stats();
    expect(stats.submissions.bfl - before).toBe(12);
    expect(Object.values(stats.requestCounts).every((n) => n === 1)).toBe(true);
    const rows = await tasks(runId);
    expect(rows.filter((t) => t.state === 'done')).toHaveLength(12);
    for (const o of orphans) expect(rows.find((t) => t.item === o.item)?.task_id).toBe(o.task_id);
    // The images were saved, and every stored image re-hashes.
    expect(readdirSync(join(work, 'out', runId)).filter((f) => f.endsWith('.png') || f.endsWith('.jpg'))).toHaveLength(12);
    const store = new FileArtifactStore(rig.storeDir);
    for (const e of run.events) if (e.type === 'itemDone' && e.value.kind === 'image') await expect(store.read(e.value.image.hash)).resolves.toBeInstanceOf(Buffer);
  }, 180_000);

  it('SIGTERM on a worker hands its run back to the queue and finishes its calls in hand: nothing ambiguous, nothing paid twice, exit 0', async () => {
    const env = { ...rig.env, BFL_API_KEYS: 'acctB:key-b' };
    const first = await startWorker(CAPPED, env);
    workers.push(first);
    const before = rig.emulator.stats().submissions.bfl;
    const run = runQueued(pipelineFile(work, 'handoff', 12), env, work);
    await until('the first submits', () => rig.emulator.stats().submissions.bfl - before >= 2, 60_000);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    workers.push(await startWorker(CAPPED, env));
    const code = await run.exited;
    expect(code, explain(run, workers)).toBe(0);
    const runId = runIdOf(run)!;
    expect(run.events.some((e) => e.type === 'warning' && /is stopping: the run goes back to the queue/.test(e.message))).toBe(true);
    expect((await tasks(runId)).map((t) => t.state)).toEqual(Array(12).fill('done'));
    expect(rig.emulator.stats().submissions.bfl - before).toBe(12);
    expect(Object.values(rig.emulator.stats().requestCounts).every((n) => n === 1)).toBe(true);
  }, 180_000);

  it('Ctrl-C on run --queue cancels the run in the queue (exit 130, resumable); queue retry finishes it without paying twice', async () => {
    const env = { ...rig.env, BFL_API_KEYS: 'acctC:key-c' };
    workers.push(await startWorker(CAPPED, env));
    const before = rig.emulator.stats().submissions.bfl;
    const run = runQueued(pipelineFile(work, 'cancelled', 12), env, work);
    await until('the first submits', () => rig.emulator.stats().submissions.bfl - before >= 2, 60_000);
    run.child.kill('SIGINT');
    expect(await run.exited, explain(run, workers)).toBe(130);
    const runId = runIdOf(run)!;
    expect(run.stderr()).toContain(`fluxgraph queue retry ${runId}`);
    expect((run.events.find((e) => e.type === 'runDone') as Extract<RunEvent, { type: 'runDone' }>).summary.status).toBe('cancelled');
    const status = async () => (await db.query(`SELECT status FROM runs WHERE run_id = $1`, [runId])).rows[0]?.status;
    expect(await status()).toBe('cancelled');
    // Nothing more is sent for it; what was on the wire finished and was recorded.
    await until('its calls in hand to finish', async () => (await tasks(runId)).every((t) => t.state !== 'submitting' && t.state !== 'submitted'), 60_000);
    const paid = rig.emulator.stats().submissions.bfl - before;
    expect(paid).toBeLessThan(12);
    expect((await tasks(runId)).some((t) => t.state === 'submitting')).toBe(false);

    const retry = await cli(['queue', 'retry', runId], { env, cwd: work });
    expect(retry.code, retry.stderr).toBe(0);
    await until('the retried run to finish', async () => (await status()) === 'done', 120_000);
    expect((await tasks(runId)).filter((t) => t.state === 'done')).toHaveLength(12);
    expect(rig.emulator.stats().submissions.bfl - before).toBe(12);
    expect(Object.values(rig.emulator.stats().requestCounts).every((n) => n === 1)).toBe(true);
  }, 180_000);

  it('--detach prints the run id at once; queue list shows it with its priority and owner; cancel takes it out; pause holds runs; retry queues it again', async () => {
    const env = { ...rig.env, BFL_API_KEYS: 'acctD:key-d', FLUXGRAPH_OWNER: 'ada' };
    // Calls are served, but no worker takes runs yet: the run waits in the queue.
    workers.push(await startWorker(['--calls', ...CAPPED], env));
    const file = pipelineFile(work, 'detached', 2);
    const detached = await cli(['run', file, '--queue', '--detach', '--priority', '5', '--out', join(work, 'out')], { env, cwd: work });
    expect(detached.code, detached.stderr).toBe(0);
    const runId = detached.stdout.trim();
    expect(runId).toMatch(/^[\w.-]+$/);
    const list = async () => JSON.parse((await cli(['queue', 'list', '--json'], { env, cwd: work })).stdout) as { paused: boolean; runs: { runId: string; state: string; priority: number; owner?: string }[]; accounts: { account: string; cap: number }[] };
    expect((await list()).runs).toEqual([expect.objectContaining({ runId, state: 'queued', priority: 5, owner: 'ada' })]);
    expect((await list()).accounts).toEqual(expect.arrayContaining([expect.objectContaining({ account: 'acctD', cap: CAP })]));

    const cancel = await cli(['queue', 'cancel', runId], { env, cwd: work });
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toContain('nothing was spent');
    expect((await list()).runs).toEqual([]);
    expect((await db.query(`SELECT status FROM runs WHERE run_id = $1`, [runId])).rows[0].status).toBe('cancelled');

    expect((await cli(['queue', 'pause'], { env, cwd: work })).code).toBe(0);
    expect((await cli(['queue', 'retry', runId], { env, cwd: work })).code).toBe(0);
    workers.push(await startWorker(['--runs'], env));
    await new Promise((r) => setTimeout(r, 1500));
    expect((await list())).toMatchObject({ paused: true, runs: [expect.objectContaining({ runId, state: 'paused' })] });
    expect((await cli(['queue', 'resume'], { env, cwd: work })).code).toBe(0);
    await until('the run to finish', async () => (await db.query(`SELECT status FROM runs WHERE run_id = $1`, [runId])).rows[0]?.status === 'done', 60_000);
    expect((await tasks(runId)).map((t) => t.state)).toEqual(['done', 'done']);
  }, 180_000);

  it('a submit cut off on the wire when its worker dies is ambiguous: never sent again, run --queue exits 1 naming queue retry --resubmit-ambiguous', async () => {
    const env = { ...rig.env, BFL_API_KEYS: 'acctE:key-e' };
    workers.push(await startWorker(['--runs'], env));
    const victim = await startWorker(['--calls', ...CAPPED], env);
    workers.push(victim);
    // Every submit takes 3 s to answer: the worker dies while one is on the wire.
    rig.emulator.setFaults({ submit: { delayMs: 3000 } });
    try {
      const run = runQueued(pipelineFile(work, 'ambiguous', 3), env, work);
      await until('a submit on the wire', async () => {
        const runId = runIdOf(run);
        return runId !== undefined && (await tasks(runId)).some((t) => t.state === 'submitting');
      }, 60_000);
      victim.child.kill('SIGKILL');
      await victim.exited;
      rig.emulator.setFaults({});
      workers.push(await startWorker(['--calls', ...CAPPED], env));
      expect(await run.exited, explain(run, workers)).toBe(1);
      const runId = runIdOf(run)!;
      expect(run.stderr()).toContain(`fluxgraph queue retry ${runId} --resubmit-ambiguous`);
      const rows = await tasks(runId);
      expect(rows.filter((t) => t.state === 'submitting').length).toBeGreaterThan(0);
      expect(rows.filter((t) => t.state === 'submitting').length + rows.filter((t) => t.state === 'done').length).toBe(3);
      expect(Object.values(rig.emulator.stats().requestCounts).every((n) => n === 1)).toBe(true);
    } finally {
      rig.emulator.setFaults({});
    }
  }, 180_000);
});

