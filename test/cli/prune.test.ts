/**
 * `prune` never deletes files a run in progress or a resumable run refers to; `--dry-run` lists
 * exactly what the real prune then removes; a run resumed to done can be pruned.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { cli } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

const doc = (text: string, count: number) => ({
  version: 1,
  name: text,
  settings: { concurrency: { bfl: 1 } },
  nodes: [
    { id: 'idea', type: 'prompt', params: { text } },
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 256, height: 256, count, steps: 4 } },
    { id: 'save', type: 'save-image', params: {} },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
});

const storeFiles = (cwd: string) =>
  new Set((readdirSync(join(cwd, '.fluxgraph', 'store'), { recursive: true }) as string[]).filter((f) => /[0-9a-f]{64}$/.test(f)).map((f) => f.slice(-64)));

describe('prune', () => {
  it('--dry-run lists exactly what prune removes; a resumable run keeps its files; resumed to done, it can be pruned', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'done.json'), JSON.stringify(doc('finished', 2)));
    writeFileSync(join(cwd, 'cut.json'), JSON.stringify(doc('interrupted', 4)));
    expect((await cli(['run', 'done.json', '--json'], { cwd })).code).toBe(0);
    const afterDone = storeFiles(cwd);
    expect(afterDone.size).toBe(2);
    // A run stopped after its first image: resumable, and its stored image is what a resume reuses.
    let cutId = '';
    const cut = await cli(['run', 'cut.json', '--json'], {
      cwd,
      onLine: (line, child) => {
        const e = JSON.parse(line) as RunEvent;
        if (e.type === 'runStart') cutId = e.runId;
        if (e.type === 'itemDone' && e.nodeId === 'drafts') child.kill('SIGINT');
      },
    });
    expect(cut.code).toBe(130);
    const cutFiles = [...storeFiles(cwd)].filter((h) => !afterDone.has(h));
    expect(cutFiles.length).toBeGreaterThan(0);

    const dry = await cli(['prune', '--older-than', '0', '--dry-run'], { cwd });
    expect(dry.code).toBe(0);
    const listed = new Set([...dry.stdout.matchAll(/would remove \S*([0-9a-f]{64})/g)].map((m) => m[1]));
    expect(listed).toEqual(afterDone);
    expect(dry.stdout).toMatch(/Would remove 2 stored files .* and would forget 1 run older than 0 days/);
    const real = await cli(['prune', '--older-than', '0'], { cwd });
    expect(real.stdout).toMatch(/Removed 2 stored files .* and forgot 1 run/);
    const left = storeFiles(cwd);
    expect([...left].filter((h) => listed.has(h))).toEqual([]);
    for (const h of cutFiles) expect(left.has(h)).toBe(true);

    // Resumed to done, the run no longer needs its files for a resume: prune may forget it.
    const resumed = await cli(['run', '--resume', cutId, '--json'], { cwd });
    expect(resumed.code).toBe(0);
    const gone = await cli(['prune', '--older-than', '0'], { cwd });
    expect(gone.stdout).toMatch(/and forgot 1 run/);
    expect(storeFiles(cwd).size).toBe(0);
  });
});
