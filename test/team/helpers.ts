/** Team-mode test rig: real Redis and Postgres, the emulator in the test process, worker processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator, EmulatorOptions } from '../../engine/emulator/types';
import { cleanEnv, ROOT } from '../helpers/cli';
import { startPostgres, startRedis, type Service } from '../helpers/services';
import { tempDir } from '../helpers/tmp';

export interface Rig {
  redis: Service;
  pg: Service;
  emulator: Emulator;
  storeDir: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startRig(emulator: Partial<EmulatorOptions> = {}): Promise<Rig> {
  const [redis, pg] = await Promise.all([startRedis(), startPostgres()]);
  const em = await startEmulator({ latencyMs: 400, activeTaskCap: 4, ...emulator });
  const storeDir = tempDir('fluxgraph-shared-store-');
  return {
    redis,
    pg,
    emulator: em,
    storeDir,
    env: {
      FLUXGRAPH_REDIS_URL: redis.url,
      FLUXGRAPH_DATABASE_URL: pg.url,
      FLUXGRAPH_STORE: storeDir,
      BFL_BASE_URL: em.baseUrl,
      FLUXGRAPH_QUEUE_LOCK_MS: '2000',
    },
    async stop() {
      await em.close();
      await Promise.all([redis.stop(), pg.stop()]);
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

export interface WorkerProc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts a worker process and resolves once it says it is ready. `script` runs a fixture instead of the CLI. */
export function startWorker(args: string[], env: Record<string, string>, script?: string): Promise<WorkerProc> {
  const argv = script ? ['--import', 'tsx', join(ROOT, script), ...args] : [join(ROOT, 'bin/fluxgraph.mjs'), 'worker', ...args];
  const child = spawn(process.execPath, argv, { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('worker ready')) resolve({ child, output: () => out, exited });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d));
    void exited.then((code) => reject(new Error(`worker exited (${code}) before it was ready:\n${out}`)));
  });
}

/** SIGTERM (a graceful stop), then SIGKILL for a worker still there after `graceMs`. */
export async function stopWorkers(workers: WorkerProc[], graceMs = 20_000): Promise<void> {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
  const timer = setTimeout(() => workers.forEach((w) => w.child.kill('SIGKILL')), graceMs);
  await Promise.all(workers.map((w) => w.exited.catch(() => null)));
  clearTimeout(timer);
}

export async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
