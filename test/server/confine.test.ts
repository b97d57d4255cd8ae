/**
 * The server reads local files only inside --base-dir: validate, estimate and runs refuse paths
 * outside it by their text (so the answer is the same whether such a file exists or not), links
 * that lead out are refused too, and the automatic estimate reads reference files by header only.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StartRunResponse } from '../../editor/api/types';
import { tempDir } from '../helpers/tmp';
import { readEvents, request, startTestServer } from './helpers';

let server: Awaited<ReturnType<typeof startTestServer>>;
let outer: string;
let base: string;
let png: Buffer;

beforeAll(async () => {
  outer = tempDir('fluxgraph-confine-');
  base = join(outer, 'base');
  mkdirSync(join(base, 'assets'), { recursive: true });
  mkdirSync(join(base, 'linked'), { recursive: true });
  png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#369' } }).png().toBuffer();
  writeFileSync(join(outer, 'secret.png'), png);
  writeFileSync(join(outer, 'secret.csv'), 'prompt\nthe secret first line\n');
  writeFileSync(join(base, 'assets', 'in.png'), png);
  symlinkSync(join(outer, 'secret.png'), join(base, 'link.png'));
  symlinkSync(join(outer, 'missing.png'), join(base, 'dangling.png'));
  symlinkSync(outer, join(base, 'outer-link'));
  symlinkSync(join(outer, 'secret.png'), join(base, 'linked', 'a.png'));
  server = await startTestServer({ cwd: base, baseDir: base });
});

afterAll(async () => {
  await server.close();
});

const withReference = (source: string) => ({
  version: 1,
  name: 'confined',
  nodes: [
    { id: 'photo', type: 'reference-image', params: { source } },
    { id: 'idea', type: 'prompt', params: { text: 'a cat' } },
    { id: 'edit', type: 'flux-flex-generate', params: { count: 1, steps: 4, width: 256, height: 256, seed: 3 } },
  ],
  edges: [
    { source: 'photo', sourceHandle: 'image', target: 'edit', targetHandle: 'references' },
    { source: 'idea', sourceHandle: 'text', target: 'edit', targetHandle: 'prompt' },
  ],
});

const withList = (type: 'prompt-list' | 'image-folder', params: Record<string, unknown>) => ({
  version: 1,
  name: 'confined-list',
  nodes: [
    { id: 'list', type, params },
    { id: 'idea', type: 'prompt', params: { text: 'a cat' } },
    { id: 'gen', type: 'flux-flex-generate', params: { count: 1, steps: 4, width: 256, height: 256, seed: 3 } },
  ],
  edges:
    type === 'prompt-list'
      ? [{ source: 'list', sourceHandle: 'prompts', target: 'gen', targetHandle: 'prompt' }]
      : [
          { source: 'list', sourceHandle: 'images', target: 'gen', targetHandle: 'references' },
          { source: 'idea', sourceHandle: 'text', target: 'gen', targetHandle: 'prompt' },
        ],
});

/** validate's issues for `pipeline`, and the status of an estimate and of a run of it. */
async function allThree(pipeline: unknown) {
  const validate = await request(server, 'POST', '/api/validate', { body: { pipeline } });
  const estimate = await request(server, 'POST', '/api/estimate', { body: { pipeline } });
  const run = await request(server, 'POST', '/api/runs', { body: { pipeline } });
  return { issues: validate.json<{ issues: { nodeId?: string; message: string }[] }>().issues, estimate, run };
}

describe('the server confines local paths to --base-dir', () => {
  it('refuses a reference outside it in validate, estimate and run, with the same answer whether the file exists or not', async () => {
    const existing = await allThree(withReference('../secret.png'));
    const missing = await allThree(withReference('../missing.png'));
    for (const r of [existing, missing]) {
      expect(r.estimate.status).toBe(422);
      expect(r.run.status).toBe(422);
    }
    expect(existing.issues).toEqual([expect.objectContaining({ nodeId: 'photo', message: expect.stringMatching(/"\.\.\/secret\.png" is outside the base folder .* \(serve --base-dir\)/) })]);
    const same = (r: typeof existing, name: string) => JSON.stringify([r.issues, r.estimate.json(), r.run.json()]).replaceAll(name, 'X');
    expect(same(existing, 'secret.png')).toBe(same(missing, 'missing.png'));
    // An absolute path is held to the same rule.
    expect((await allThree(withReference('/etc/passwd'))).issues[0].message).toMatch(/"\/etc\/passwd" is outside the base folder/);
  });

  it('refuses a link inside the base folder that leads out of it, dangling or not, as if it were outside', async () => {
    for (const source of ['link.png', 'dangling.png', 'outer-link/secret.png']) {
      const r = await allThree(withReference(source));
      expect(r.issues.map((i) => i.message)).toEqual([expect.stringContaining(`"${source}" is outside the base folder`)]);
      expect(r.run.status).toBe(422);
    }
  });

  it('refuses prompt-list files and image folders or globs outside it, and shows nothing of their contents', async () => {
    const cases: [ReturnType<typeof withList>, string][] = [
      [withList('prompt-list', { file: '../secret.csv' }), '../secret.csv'],
      [withList('prompt-list', { file: 'outer-link/secret.csv' }), 'outer-link/secret.csv'],
      [withList('image-folder', { path: '..' }), '..'],
      [withList('image-folder', { path: '../*.png' }), '../*.png'],
      [withList('image-folder', { path: '{..,assets}/*.png' }), '{..,assets}/*.png'],
      [withList('image-folder', { path: 'outer-link' }), 'outer-link'],
    ];
    for (const [pipeline, path] of cases) {
      const r = await allThree(pipeline);
      expect(r.issues, path).toEqual([expect.objectContaining({ nodeId: 'list', message: expect.stringContaining(`"${path}" is outside the base folder`) })]);
      expect(r.estimate.status).toBe(422);
      expect(r.estimate.text).not.toContain('the secret first line');
      expect(r.run.status).toBe(422);
    }
    // A folder inside whose files are links out: refused too.
    const linked = await allThree(withList('image-folder', { path: 'linked' }));
    expect(linked.issues.map((i) => i.message)).toEqual([expect.stringMatching(/a\.png leads outside the base folder/)]);
  });

  it('accepts what lies inside, and its list node previews come with the estimate', async () => {
    writeFileSync(join(base, 'prompts.txt'), 'first prompt\nsecond prompt\n');
    const r = await request(server, 'POST', '/api/estimate', { body: { pipeline: withList('prompt-list', { file: 'prompts.txt' }) } });
    expect(r.status).toBe(200);
    expect(r.json<{ batch: { rows: number; sources: Record<string, { count: number; preview: string[] }> } }>().batch).toEqual({ rows: 2, sources: { list: { count: 2, preview: ['first prompt', 'second prompt'] } } });
  });
});

describe('the automatic estimate reads reference files by header only', () => {
  it('prices a reference whose body is damaged (it would fail only in a run, before paying), and never decodes it', async () => {
    const head = png.subarray(0, 40);
    writeFileSync(join(base, 'assets', 'truncated.png'), Buffer.concat([head, Buffer.alloc(4000, 7)]));
    const r = await request(server, 'POST', '/api/estimate', { body: { pipeline: withReference('assets/truncated.png') } });
    expect(r.status).toBe(200);
    const estimate = r.json<{ calls: number; warnings: string[] }>();
    expect(estimate.calls).toBe(1);
    expect(estimate.warnings.join('\n')).not.toMatch(/damaged|incomplete|cannot estimate/);
  });

  it('after a run has read a reference, the estimate finds its results in the cache ($0); a changed file is priced again', async () => {
    const pipeline = withReference('assets/in.png');
    const started = await request(server, 'POST', '/api/runs', { body: { pipeline } });
    expect(started.status).toBe(201);
    await readEvents(server, started.json<StartRunResponse>().runId);
    await server.runs.settled(started.json<StartRunResponse>().runId);
    const cached = (await request(server, 'POST', '/api/estimate', { body: { pipeline, seedsFrom: started.json<StartRunResponse>().runId } })).json<{ calls: number; cached: number }>();
    expect(cached).toMatchObject({ calls: 0, cached: 1 });
    writeFileSync(join(base, 'assets', 'in.png'), await sharp({ create: { width: 64, height: 48, channels: 3, background: '#963' } }).png().toBuffer());
    const changed = (await request(server, 'POST', '/api/estimate', { body: { pipeline, seedsFrom: started.json<StartRunResponse>().runId } })).json<{ calls: number; cached: number }>();
    expect(changed).toMatchObject({ calls: 1, cached: 0 });
  });
});
