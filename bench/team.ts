/**
 * Team mode's throughput (issue 12): 2,000 provider calls over 3 worker processes and 2 BFL
 * accounts with a cap of 8 each, at a fixed 1 s latency, through real Redis and PostgreSQL that
 * the bench starts on loopback. Lower bound = calls × latency ÷ total cap; the peak of active
 * tasks per account, from the emulator's own count, should equal its cap.
 *
 * Run alone: `npx tsx bench/team.ts [calls]`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator } from '../engine/emulator/server';
import { CallQueues } from '../engine/team/call-queues';
import { startPostgres, startRedis } from '../test/helpers/services';
import { tempDir } from '../test/helpers/tmp';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export interface TeamBenchResult {
  calls: number;
  latencyMs: number;
  capPerAccount: number;
  accounts: number;
  workers: number;
  makespanMs: number;
  lowerBoundMs: number;
  ratio: number;
  peakActive: Record<string, number>;
  duplicates: number;
  failures: number;
}

export async function benchTeam(o: { calls?: number; latencyMs?: number; cap?: number; workers?: number } = {}): Promise<TeamBenchResult> {
  const calls = o.calls ?? 2000;
  const latencyMs = o.latencyMs ?? 1000;
  const cap = o.cap ?? 8;
  const workerCount = o.workers ?? 3;
  const [redis, pg] = await Promise.all([startRedis(), startPostgres()]);
  const emulator = await startEmulator({ latencyMs, activeTaskCap: cap });
  const storeDir = tempDir('fluxgraph-bench-team-');
  const children: ChildProcess[] = [];
  try {
    const env = {
      ...process.env,
      FLUXGRAPH_REDIS_URL: redis.url,
      FLUXGRAPH_DATABASE_URL: pg.url,
      FLUXGRAPH_STORE: storeDir,
      BFL_BASE_URL: emulator.baseUrl,
      BFL_API_KEYS: 'benchA:key-bench-a,benchB:key-bench-b',
    };
    delete (env as Record<string, string | undefined>).BFL_API_KEY;
    await Promise.all(
      Array.from({ length: workerCount }, () =>
        new Promise<void>((ready, fail) => {
          const child = spawn(process.execPath, [join(ROOT, 'bin/fluxgraph.mjs'), 'worker', '--concurrency', `bfl=${cap}`], { env, stdio: ['ignore', 'pipe', 'inherit'] });
          children.push(child);
          let out = '';
          child.stdout!.on('data', (d: Buffer) => {
            out += d;
            if (out.includes('worker ready')) ready();
          });
          child.once('exit', (code) => fail(new Error(`worker exited (${code}): ${out}`)));
        }),
      ),
    );
    const queues = await CallQueues.open(redis.url);
    const t0 = performance.now();
    const settled = await Promise.allSettled(
      Array.from({ length: calls }, (_, i) =>
        queues.call({
          provider: 'bfl',
          request: { model: 'flex', prompt: `bench ${i}`, seed: i, width: 512, height: 512, references: [] },
          call: { runId: 'bench-team', nodeId: 'drafts', nodeType: 'flux-flex-generate', nodeVersion: 1, cacheable: false, item: i },
          taskTimeoutMs: 600_000,
          cache: true,
        }),
      ),
    );
    const makespanMs = Math.round(performance.now() - t0);
    await queues.close();
    const stats = emulator.stats();
    const lowerBoundMs = Math.round((calls * latencyMs) / (cap * 2));
    return {
      calls,
      latencyMs,
      capPerAccount: cap,
      accounts: 2,
      workers: workerCount,
      makespanMs,
      lowerBoundMs,
      ratio: Math.round((makespanMs / lowerBoundMs) * 1000) / 1000,
      peakActive: stats.peakActive.bfl,
      duplicates: Object.values(stats.requestCounts).filter((n) => n > 1).length,
      failures: settled.filter((s) => s.status === 'rejected').length,
    };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    await emulator.close();
    await Promise.all([redis.stop(), pg.stop()]);
    rmSync(storeDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await benchTeam({ calls: Number(process.argv[2]) || undefined });
  console.log(JSON.stringify(r, null, 2));
}
