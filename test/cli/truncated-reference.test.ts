/**
 * A reference PNG whose header is fine but whose data is cut short passes the pre-flight's header
 * check (so a folder of 10,000 photos starts at once), and is decoded in full just before its own
 * submit: it fails only the items that use it, before anything is paid for them, and the other
 * branch goes on. The CLI as a child process, the emulator over HTTP.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { cli, ROOT } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 100 });
});
afterAll(() => emulator.close());

const branch = (n: string, file: string) => [
  { id: `photo-${n}`, type: 'reference-image', params: { source: file } },
  { id: `edit-${n}`, type: 'flux-flex-generate', params: { width: 256, height: 256, steps: 4, seed: 1, count: 2 } },
  { id: `save-${n}`, type: 'save-image', params: { template: `{run}/${n}-{index}` } },
];
const wires = (n: string) => [
  { source: `photo-${n}`, sourceHandle: 'image', target: `edit-${n}`, targetHandle: 'references' },
  { source: 'idea', sourceHandle: 'text', target: `edit-${n}`, targetHandle: 'prompt' },
  { source: `edit-${n}`, sourceHandle: 'images', target: `save-${n}`, targetHandle: 'images' },
];

describe('a truncated PNG reference', () => {
  it('fails only its own items, before paying for them; the other branch is made and paid', async () => {
    const cwd = tempDir();
    const png = readFileSync(join(ROOT, 'examples/assets/still-life.png'));
    writeFileSync(join(cwd, 'good.png'), png);
    // The header (size, format) is intact; the image data stops half way.
    writeFileSync(join(cwd, 'cut.png'), png.subarray(0, Math.floor(png.length / 2)));
    const doc = {
      version: 1,
      name: 'truncated',
      nodes: [{ id: 'idea', type: 'prompt', params: { text: 'as a watercolour' } }, ...branch('good', 'good.png'), ...branch('cut', 'cut.png')],
      edges: [...wires('good'), ...wires('cut')],
    };
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(doc));
    const env = { BFL_API_KEY: 'truncated-key', BFL_BASE_URL: emulator.baseUrl };
    // The pre-flight reads headers only: the document is valid.
    expect((await cli(['validate', 'p.json'], { cwd, env })).code).toBe(0);
    const r = await cli(['run', 'p.json', '--json', '--out', 'out'], { cwd, env });
    expect(r.code).toBe(1);
    const done = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as RunEvent).at(-1) as Extract<RunEvent, { type: 'runDone' }>;
    const { summary } = done;
    expect(summary.nodes['edit-good']).toMatchObject({ status: 'done', items: 2 });
    expect(summary.nodes['edit-cut']).toMatchObject({ items: 0 });
    expect(['failed', 'skipped']).toContain(summary.nodes['edit-cut'].status);
    expect(summary.failures.length).toBeGreaterThan(0);
    for (const f of summary.failures) {
      expect(['photo-cut', 'edit-cut']).toContain(f.nodeId);
      expect(f.message).toMatch(/cut\.png/);
    }
    // Only the good branch was submitted and paid: two drafts.
    expect(emulator.stats().submissions.bfl).toBe(2);
    expect(summary).toMatchObject({ providerCalls: 2, images: 2, status: 'partial' });
  });
});
