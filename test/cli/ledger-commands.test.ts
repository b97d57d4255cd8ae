/** The money commands as a user runs them: estimate, --budget, --only, runs, prune, --no-cache. */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { cli, ROOT } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

const EXAMPLE = join(ROOT, 'examples/draft-then-refine.json');
const summaryOf = (stdout: string) => {
  const last = stdout.trim().split('\n').map((l) => JSON.parse(l) as RunEvent).at(-1)!;
  if (last.type !== 'runDone') throw new Error('no runDone event');
  return last.summary;
};

describe('fluxgraph money commands', () => {
  it('estimate prints the cost per node and the total', async () => {
    const r = await cli(['estimate', EXAMPLE]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/drafts\s+4 calls\s+≈ \$0\.20\s+\[bfl\]/);
    expect(r.stdout).toMatch(/refine\s+2 calls\s+≈ \$0\.20\s+\[bfl\]/);
    expect(r.stdout).toMatch(/total: ≈ \$0\.40 for 6 provider calls/);
  });

  it('--budget below the estimate refuses before submitting anything', async () => {
    const cwd = tempDir();
    const r = await cli(['run', EXAMPLE, '--budget', '0.25', '--json'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the estimate is ≈ \$0\.40, over the budget of \$0\.25; nothing was submitted/);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'usage', message: expect.stringMatching(/over the budget/) } });
  });

  it('a second run serves explicit-seed drafts from the cache, --no-cache pays again, runs lists both', async () => {
    const cwd = tempDir();
    const first = summaryOf((await cli(['run', EXAMPLE, '--json'], { cwd })).stdout);
    const second = summaryOf((await cli(['run', EXAMPLE, '--json', '--set', 'refine.seed=8'], { cwd })).stdout);
    const third = summaryOf((await cli(['run', EXAMPLE, '--json', '--no-cache'], { cwd })).stdout);
    expect(first.cached ?? 0).toBe(0);
    expect(second.cached).toBe(4);
    expect(second.costUsd).toBeCloseTo(0.2, 6);
    expect(third.cached ?? 0).toBe(0);
    const runs = await cli(['runs', '--json'], { cwd });
    expect(JSON.parse(runs.stdout).map((r: { runId: string; status: string }) => [r.runId, r.status])).toEqual([
      [third.runId, 'done'],
      [second.runId, 'done'],
      [first.runId, 'done'],
    ]);
  });

  it('--only runs a node and what it needs, reusing the earlier run of the same file', async () => {
    const cwd = tempDir();
    const doc = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
    delete doc.nodes.find((n: { id: string }) => n.id === 'drafts').params.seed;
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(doc));
    await cli(['run', 'p.json', '--json', '--out', 'o'], { cwd });
    const partial = summaryOf((await cli(['run', 'p.json', '--json', '--only', 'pick', '--out', 'o2'], { cwd })).stdout);
    expect(Object.keys(partial.nodes).sort()).toEqual(['drafts', 'idea', 'pick']);
    expect(partial.cached).toBe(4);
    expect(partial.costUsd).toBe(0);
    // The estimate of the same partial run knows its drafts are stored.
    const estimate = JSON.parse((await cli(['estimate', 'p.json', '--json', '--only', 'pick'], { cwd })).stdout);
    expect(estimate).toMatchObject({ totalUsd: 0, calls: 0, cached: 4 });
  });

  it('prune removes stored files no run refers to and keeps the rest', async () => {
    const cwd = tempDir();
    await cli(['run', EXAMPLE, '--json'], { cwd });
    const stored = () => readdirSync(join(cwd, '.fluxgraph', 'store')).flatMap((d) => readdirSync(join(cwd, '.fluxgraph', 'store', d)));
    const before = stored().length;
    mkdirSync(join(cwd, '.fluxgraph', 'store', 'ab'), { recursive: true });
    writeFileSync(join(cwd, '.fluxgraph', 'store', 'ab', 'ab'.padEnd(64, '0')), 'orphan');
    const r = await cli(['prune'], { cwd });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Removed 1 stored file/);
    expect(stored()).toHaveLength(before);
  });
});
