/**
 * Real Redis and PostgreSQL servers for team-mode tests, started by the test itself on a random
 * loopback port in a temporary folder and stopped after. PostgreSQL's initdb refuses root, so as
 * root the server runs as the postgres user in a folder it owns.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './tmp';

export interface Service {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not start within ${timeoutMs} ms`);
}

function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    let got = '';
    s.once('error', () => resolve(false));
    s.connect(port, '127.0.0.1', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      got += d;
      if (got.includes('\r\n')) {
        s.destroy();
        resolve(got.startsWith('+PONG'));
      }
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

/**
 * A redis-server configured as BullMQ requires (append-only file, no eviction). `config` adds or
 * overrides directives, e.g. `{ 'maxmemory-policy': 'allkeys-lru' }` to test the start-up check.
 */
export async function startRedis(config: Record<string, string> = {}): Promise<Service> {
  const dir = tempDir('fluxgraph-redis-');
  const port = await freePort();
  const directives: Record<string, string> = { bind: '127.0.0.1', port: String(port), dir, appendonly: 'yes', 'maxmemory-policy': 'noeviction', save: '', 'protected-mode': 'yes', ...config };
  const args = Object.entries(directives).flatMap(([k, v]) => [`--${k}`, v]);
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  await until('redis-server', () => redisPing(port));
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const PG_BIN = ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin'];

function pgBin(name: string): string {
  for (const d of PG_BIN) {
    const p = join(d, name);
    if (spawnSync('test', ['-x', p]).status === 0) return p;
  }
  return name;
}

/** A PostgreSQL cluster of its own, trust auth on loopback only, database `fluxgraph`. */
export async function startPostgres(): Promise<Service> {
  const dir = tempDir('fluxgraph-pg-');
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  mkdirSync(sock);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const pg = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const uid = Number(pg.stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
    chownSync(sock, uid, gid);
  }
  const run = (cmd: string, args: string[]) => {
    const r = asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8' }) : spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
  };
  run(pgBin('initdb'), ['-D', data, '-A', 'trust', '-U', 'fluxgraph', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  run(pgBin('pg_ctl'), ['-D', data, '-w', '-s', '-l', join(dir, 'log'), '-o', `-p ${port} -k ${sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`, 'start']);
  run(pgBin('createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'fluxgraph', 'fluxgraph']);
  return {
    url: `postgres://fluxgraph@127.0.0.1:${port}/fluxgraph`,
    port,
    async stop() {
      try {
        run(pgBin('pg_ctl'), ['-D', data, '-w', '-s', '-m', 'immediate', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
