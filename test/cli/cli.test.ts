/** The CLI as a user runs it: a spawned process, real files, the embedded emulator. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { cli, ROOT } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

const events = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as RunEvent);

function pipelineFile(dir: string, doc: unknown): string {
  const file = join(dir, 'p.json');
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

describe('fluxgraph CLI', () => {
  it('runs the draft-then-refine example on the embedded emulator: exit 0, NDJSON events, images and sidecars', async () => {
    const cwd = tempDir();
    const r = await cli(['run', join(ROOT, 'examples/draft-then-refine.json'), '--out', 'images', '--json'], { cwd });
    expect(r.stderr).toMatch(/No provider API key set: using the embedded emulator at http:\/\/127\.0\.0\.1:\d+; images are local stand-ins, not FLUX\./);
    expect(r.code).toBe(0);
    const evs = events(r.stdout);
    expect(evs[0].type).toBe('runStart');
    const done = evs.at(-1)!;
    expect(done.type).toBe('runDone');
    if (done.type !== 'runDone') return;
    expect(done.summary).toMatchObject({ status: 'done', providerCalls: 6, failures: [] });
    expect(done.summary.costUsd).toBeGreaterThan(0);
    const runDir = join(cwd, 'images', done.summary.runId);
    expect(readdirSync(runDir).sort()).toEqual(['drafts', 'final-0.jpg', 'final-0.json', 'final-2.jpg', 'final-2.json']);
    expect(readdirSync(join(runDir, 'drafts')).filter((f) => f.endsWith('.jpg'))).toHaveLength(4);
    expect(JSON.parse(readFileSync(join(runDir, 'final-2.json'), 'utf8'))).toMatchObject({ node: 'refine', model: 'max', provider: 'bfl', seed: 9 });
  });

  it('exits 2 and names the node and param for an invalid pipeline, without starting a run', async () => {
    const dir = tempDir();
    const file = pipelineFile(dir, { version: 1, nodes: [{ id: 'idea', type: 'prompt', params: { text: 'x' } }, { id: 'drafts', type: 'flux-flex-generate', params: { steps: 80 } }], edges: [] });
    const r = await cli(['run', file, '--json'], { cwd: dir });
    expect(r.code).toBe(2);
    // --json: one JSON object on stdout saying what is wrong, the same lines on stderr for people.
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ ok: false, error: { code: 'invalid_pipeline' } });
    expect(out.issues).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'invalid_param', nodeId: 'drafts', param: 'steps' })]));
    expect(r.stderr).toMatch(/node "drafts" \(flux-flex-generate\): param "steps" must be between 1 and 50, got 80 \[invalid_param\]/);
    expect(r.stderr).toMatch(/required input "prompt" \(text\) is not connected \[missing_input\]/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
  });

  it('reports malformed JSON with line and column and exits 2', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.json'), '{\n  "version": 1,\n  "nodes": [,]\n}');
    const r = await cli(['validate', 'bad.json'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.json:3:13: error: malformed JSON at line 3, column 13/);
  });

  it('exits 1 when some items fail, and lists each failure with node, item and reason', async () => {
    const dir = tempDir();
    const file = pipelineFile(dir, {
      version: 1,
      nodes: [
        { id: 'ok', type: 'prompt', params: { text: 'a fox' } },
        { id: 'bad', type: 'prompt', params: { text: 'a fox [moderate-content]' } },
        { id: 'good', type: 'flux-flex-generate', params: { width: 64, height: 64, seed: 1 } },
        { id: 'moderated', type: 'flux-flex-generate', params: { width: 64, height: 64, seed: 1 } },
        { id: 'save', type: 'save-image', params: {} },
      ],
      edges: [
        { source: 'ok', sourceHandle: 'text', target: 'good', targetHandle: 'prompt' },
        { source: 'bad', sourceHandle: 'text', target: 'moderated', targetHandle: 'prompt' },
        { source: 'good', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
        { source: 'moderated', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
      ],
    });
    const r = await cli(['run', file, '--json', '--out', 'o'], { cwd: dir });
    expect(r.code).toBe(1);
    const done = events(r.stdout).at(-1)!;
    if (done.type !== 'runDone') throw new Error('no runDone');
    expect(done.summary.failures).toEqual([expect.objectContaining({ nodeId: 'moderated', item: 0, code: 'moderated', provider: 'bfl' })]);
    expect(done.summary.imagesWritten).toHaveLength(1);
  });

  it('on Ctrl-C stops polling, keeps what is written, and exits 130', async () => {
    const dir = tempDir();
    const file = pipelineFile(dir, {
      version: 1,
      nodes: [
        { id: 'fast', type: 'prompt', params: { text: 'a fox' } },
        { id: 'slow', type: 'prompt', params: { text: 'a fox [stuck]' } },
        { id: 'a', type: 'flux-flex-generate', params: { width: 64, height: 64, seed: 1 } },
        { id: 'b', type: 'flux-flex-generate', params: { width: 64, height: 64, seed: 1 } },
        { id: 'save', type: 'save-image', params: {} },
      ],
      edges: [
        { source: 'fast', sourceHandle: 'text', target: 'a', targetHandle: 'prompt' },
        { source: 'slow', sourceHandle: 'text', target: 'b', targetHandle: 'prompt' },
        { source: 'a', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
        { source: 'b', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
      ],
    });
    let written = '';
    const r = await cli(['run', file, '--json', '--out', 'o'], {
      cwd: dir,
      onLine: (line, child) => {
        const ev = JSON.parse(line) as RunEvent;
        if (ev.type === 'fileWritten') {
          written = ev.path;
          child.kill('SIGINT');
        }
      },
    });
    expect(r.code).toBe(130);
    expect(existsSync(written)).toBe(true);
    const done = events(r.stdout).at(-1)!;
    expect(done).toMatchObject({ type: 'runDone', summary: { status: 'cancelled' } });
    expect(r.stderr).toMatch(/Interrupted/);
  });

  it('lists node types with ports, ranges and defaults', async () => {
    const r = await cli(['nodes']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/flux-flex-generate {2}\(FLUX\.2 \[flex\] generate\)/);
    expect(r.stdout).toMatch(/steps: integer 1\.\.50, default 50/);
    expect(r.stdout).toMatch(/references: image\[\] \(up to 8\)/);
  });

  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['run'], /run needs one pipeline file/],
    [['run', 'x.json', '--bogus'], /Unknown option '--bogus'/],
    [['run', 'nope.json'], /cannot read nope\.json: no such file/],
    [['validate', 'x.json', '--budget', '3'], /--budget is an option of fluxgraph run, not of validate/],
    [['runs', '--bogus'], /Unknown option '--bogus'/],
  ])('exits 2 on bad usage: %j', async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('applies --set to params and placeholders, and validate reports the result', async () => {
    const dir = tempDir();
    const r = await cli(['validate', join(ROOT, 'examples/draft-then-refine.json'), '--set', 'drafts.steps=99'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/param "steps" must be between 1 and 50, got 99/);
    const ok = await cli(['validate', join(ROOT, 'examples/draft-then-refine.json'), '--set', 'subject=a red fox'], { cwd: dir });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/valid \(6 nodes, 6 edges\)/);
  });
});
