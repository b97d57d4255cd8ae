/**
 * Bad team-mode configuration is one clear line and exit 2, with nothing enqueued or spent:
 * Redis or Postgres unreachable, Redis evicting keys, an account name used twice.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountsOf } from '../../engine/host/accounts';
import { EngineError } from '../../engine/core/errors';
import { cli } from '../helpers/cli';
import { freePort, startPostgres, startRedis, type Service } from '../helpers/services';
import { startLocalS3, type LocalS3 } from '../helpers/s3-server';
import { tempDir } from '../helpers/tmp';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

describe('fluxgraph worker with a bad configuration', () => {
  let redis: Service;
  let evicting: Service;
  let pg: Service;
  let store: string;
  let s3: LocalS3;
  beforeAll(async () => {
    [redis, evicting, pg, s3] = await Promise.all([startRedis(), startRedis({ 'maxmemory-policy': 'allkeys-lru' }), startPostgres(), startLocalS3('team-store')]);
    store = tempDir();
  });
  afterAll(async () => {
    await Promise.all([redis?.stop(), evicting?.stop(), pg?.stop(), s3?.close()]);
    rmSync(store, { recursive: true, force: true });
  });

  const env = () => ({ FLUXGRAPH_REDIS_URL: redis.url, FLUXGRAPH_DATABASE_URL: pg.url, FLUXGRAPH_STORE: store, BFL_API_KEY: 'k', BFL_BASE_URL: 'http://127.0.0.1:9' });

  it.each([
    ['Redis is unreachable', async () => ({ FLUXGRAPH_REDIS_URL: `redis://127.0.0.1:${await freePort()}` }), /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+.*FLUXGRAPH_REDIS_URL/],
    ['Postgres is unreachable', async () => ({ FLUXGRAPH_DATABASE_URL: `postgres://fluxgraph@127.0.0.1:${await freePort()}/fluxgraph` }), /Postgres ledger cannot be reached at .*FLUXGRAPH_DATABASE_URL/],
    ['Redis may evict queued jobs', async () => ({ FLUXGRAPH_REDIS_URL: evicting.url }), /maxmemory-policy "allkeys-lru".*noeviction/],
    ['an account name is used twice', async () => ({ BFL_API_KEY: '', BFL_API_KEYS: 'teamA:k1,teamA:k2' }), /BFL_API_KEYS: the account name "teamA" is used twice/],
    ['no provider key is set', async () => ({ BFL_API_KEY: '' }), /no provider key is set/],
    ['the queue is not configured', async () => ({ FLUXGRAPH_REDIS_URL: '' }), /FLUXGRAPH_REDIS_URL is not set/],
    ['Postgres refuses the credentials', async () => ({ FLUXGRAPH_DATABASE_URL: pg.url.replace('fluxgraph@', 'nobody:secret@') }), /Postgres ledger refused the credentials in postgres:\/\/nobody:\*\*\*@/],
    ['the bucket refuses writes', async () => ({ ...s3.env, FLUXGRAPH_STORE: 's3://no-such-bucket/shared' }), /FLUXGRAPH_STORE s3:\/\/no-such-bucket\/shared refuses writes/],
    ['the store folder cannot be written', async () => ({ FLUXGRAPH_STORE: '/proc/fluxgraph' }), /FLUXGRAPH_STORE \/proc\/fluxgraph is under \/proc/],
  ])('%s: one line naming it, exit 2', async (_what, over, message) => {
    const r = await cli(['worker'], { env: { ...env(), ...(await over()) } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).not.toContain('worker ready');
  });

  it.each([
    ['Redis is unreachable', async () => ({ FLUXGRAPH_REDIS_URL: `redis://127.0.0.1:${await freePort()}` }), /cannot reach Redis at/],
    ['Postgres is unreachable', async () => ({ FLUXGRAPH_DATABASE_URL: `postgres://fluxgraph@127.0.0.1:${await freePort()}/fluxgraph` }), /Postgres ledger cannot be reached/],
    ['the bucket refuses writes', async () => ({ ...s3.env, FLUXGRAPH_STORE: 's3://no-such-bucket/shared' }), /refuses writes/],
    ['no worker serves the provider', async () => ({}), /no worker serves provider "bfl".*nothing was queued/],
  ])('run --queue when %s: one line naming it, exit 2, nothing queued', async (_what, over, message) => {
    const dir = tempDir();
    const file = join(dir, 'p.json');
    writeFileSync(file, JSON.stringify({ version: 1, nodes: [{ id: 'a', type: 'prompt', params: { text: 'x' } }, { id: 'g', type: 'flux-flex-generate', params: {} }], edges: [{ source: 'a', sourceHandle: 'text', target: 'g', targetHandle: 'prompt' }] }));
    const r = await cli(['run', file, '--queue'], { env: { ...env(), BFL_API_KEY: '', ...(await over()) }, cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const listed = await cli(['queue', 'list', '--json'], { env: env(), cwd: dir });
    expect(JSON.parse(listed.stdout).runs).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('never shows a password from a URL', async () => {
    const r = await cli(['worker'], { env: { ...env(), FLUXGRAPH_REDIS_URL: `redis://:s3cret-pass@127.0.0.1:${await freePort()}` } });
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('s3cret-pass');
  });
});

describe('provider accounts from the environment', () => {
  it('reads several accounts, with the single key as the account "default"', () => {
    expect(accountsOf({ BFL_API_KEYS: 'teamA:ka, teamB:kb', BFL_API_KEY: 'k0' }, 'bfl').map((a) => [a.name, a.key])).toEqual([
      ['default', 'k0'],
      ['teamA', 'ka'],
      ['teamB', 'kb'],
    ]);
  });

  it('counts an empty variable as unset', () => {
    expect(accountsOf({ KIE_API_KEYS: '', KIE_API_KEY: '  ' }, 'kie')).toEqual([]);
  });

  it.each([['teamA'], ['teamA:'], [':key'], ['bad name:key']])('refuses the entry "%s", naming the variable', (entry) => {
    expect(() => accountsOf({ NOVITA_API_KEYS: entry }, 'novita')).toThrow(EngineError);
    expect(() => accountsOf({ NOVITA_API_KEYS: entry }, 'novita')).toThrow(/NOVITA_API_KEYS/);
  });
});
