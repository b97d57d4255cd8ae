/**
 * Runs started from the editor do what `fluxgraph run` does: one pre-flight whose result the run
 * uses (no second validation), a batch's rows checked before anything is spent and results.csv
 * written; the history is the ledger's (CLI runs too), a killed CLI run can be resumed from it,
 * and "download all" streams one ZIP of a run's images and sidecars.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineNode } from '../../engine/core/define-node';
import type { RunEvent } from '../../engine/core/events';
import { NodeRegistry } from '../../engine/core/registry';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { createRegistry } from '../../nodes/index';
import type { RunRecord, StartRunResponse } from '../../editor/api/types';
import { cli } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';
import { readEvents, request, startTestServer } from './helpers';

// A node whose check counts how often the document is validated.
let checks = 0;
const counted = defineNode({
  type: 'counted',
  title: 'Counted',
  description: 'Passes its text on; its check counts validations.',
  version: 1,
  category: 'select',
  inputs: { text: { kind: 'text', required: true } },
  outputs: { text: { kind: 'text' } },
  params: z.strictObject({}),
  eachItemOf: 'text',
  check() {
    checks++;
    return [];
  },
  async run({ inputs }) {
    return { text: inputs.text[0] };
  },
});

const runTo = async (server: { port: number; url: string; runs: { settled(id: string): Promise<void> } }, pipeline: unknown) => {
  const started = await request(server, 'POST', '/api/runs', { body: { pipeline } });
  expect(started.status, started.text).toBe(201);
  const { runId } = started.json<StartRunResponse>();
  const { events } = await readEvents(server, runId);
  await server.runs.settled(runId);
  return { runId, events };
};

describe('one pre-flight per editor run', () => {
  it('validates the document once: the run takes the pre-flight’s result', async () => {
    const server = await startTestServer({ registry: new NodeRegistry([...createRegistry().all(), counted as never]) });
    try {
      checks = 0;
      const { events } = await runTo(server, {
        version: 1,
        nodes: [
          { id: 'idea', type: 'prompt', params: { text: 'x' } },
          { id: 'c', type: 'counted', params: {} },
        ],
        edges: [{ source: 'idea', sourceHandle: 'text', target: 'c', targetHandle: 'text' }],
      });
      expect(events.at(-1)).toMatchObject({ type: 'runDone', summary: { status: 'done' } });
      expect(checks).toBe(1);
    } finally {
      await server.close();
    }
  });
});

const batch = (file: string) => ({
  version: 1,
  name: 'server-batch',
  nodes: [
    { id: 'products', type: 'prompt-list', params: { file, template: '{product}, studio photo' } },
    { id: 'drafts', type: 'flux-flex-generate', params: { count: 2, steps: 4, width: 256, height: 256, seed: 5 } },
    { id: 'save', type: 'save-image', params: { template: '{run}/{row}-{field:sku}-{index}' } },
  ],
  edges: [
    { source: 'products', sourceHandle: 'prompts', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
});

describe('batches run from the editor', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  beforeAll(async () => {
    server = await startTestServer({ env: { FLUXGRAPH_EMULATOR: 'always' } });
    writeFileSync(join(server.cwd, 'rows.csv'), 'sku,product\nA1,"teapot, white"\nB2,lamp\nC3,chair\n');
    writeFileSync(join(server.cwd, 'broken.csv'), 'sku,product\nA1,teapot\nB2,lamp,extra\nC3,chair\n');
  });
  afterAll(() => server.close());

  it('writes results.csv with one line per row and image, as the CLI does; the history names it', async () => {
    const { runId } = await runTo(server, batch('rows.csv'));
    const csv = readFileSync(join(server.outDir, runId, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('row,sku,product,status,node,file,cost_usd,provider,task_id,error');
    expect(csv.slice(1).map((l) => l.split(',').slice(0, 2).join(',')).sort()).toEqual(['1,A1', '1,A1', '2,B2', '2,B2', '3,C3', '3,C3']);
    expect(csv.slice(1).filter((l) => !l.includes(',done,drafts,'))).toEqual([]);
    expect(csv.find((l) => l.startsWith('1,'))).toContain('"teapot, white"');
    const record = (await request(server, 'GET', `/api/runs/${runId}`)).json<RunRecord>();
    expect(record.results).toBe(join(server.outDir, runId, 'results.csv'));
    expect(new Set(record.images.map((i) => i.row))).toEqual(new Set([1, 2, 3]));
  });

  it('refuses a malformed row with its line number before anything is spent', async () => {
    const before = server.host.emulator!.stats().submissions.bfl ?? 0;
    const r = await request(server, 'POST', '/api/runs', { body: { pipeline: batch('broken.csv') } });
    expect(r.status).toBe(422);
    const issues = r.json<{ issues: { nodeId?: string; message: string; rowLine?: number }[] }>().issues;
    expect(issues).toEqual([expect.objectContaining({ nodeId: 'products', rowLine: 3, message: expect.stringContaining('broken.csv:3') })]);
    expect(server.host.emulator!.stats().submissions.bfl ?? 0).toBe(before);
  });
});

describe('history from the ledger, resume and download all', () => {
  let emulator: Emulator;
  beforeAll(async () => {
    emulator = await startEmulator({ latencyMs: 5_000 });
  });
  afterAll(() => emulator.close());

  it('lists a CLI run killed with -9 as interrupted, resumes it without paying twice, then it reads done; its ZIP holds every image and sidecar', async () => {
    const cwd = tempDir('fluxgraph-history-');
    mkdirSync(join(cwd, 'out'));
    const pipeline = {
      version: 1,
      name: 'killed-cli-run',
      nodes: [
        { id: 'idea', type: 'prompt', params: { text: 'a lighthouse' } },
        { id: 'drafts', type: 'flux-flex-generate', params: { count: 3, steps: 4, width: 256, height: 256 } },
        { id: 'save', type: 'save-image', params: { template: 'final-{index}' } },
      ],
      edges: [
        { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
        { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
      ],
    };
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(pipeline));
    const env = { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: 'history-test-key' };
    let runId = '';
    let submitted = 0;
    const first = await cli(['run', 'p.json', '--json', '--out', 'out'], {
      cwd,
      env,
      onLine: (line: string, child: ChildProcess) => {
        const e = JSON.parse(line) as RunEvent;
        if (e.type === 'runStart') runId = e.runId;
        if (e.type === 'nodeProgress' && /: submitted$/.test(e.status ?? '') && ++submitted === 3) child.kill('SIGKILL');
      },
    });
    expect(first.signal).toBe('SIGKILL');
    emulator.setLatency(100);

    const server = await startTestServer({ cwd, baseDir: cwd, env });
    try {
      const listed = (await request(server, 'GET', '/api/runs')).json<{ runs: RunRecord[] }>().runs;
      expect(listed.find((r) => r.runId === runId)).toMatchObject({ status: 'interrupted', resumable: true, origin: 'cli', pipeline: 'killed-cli-run' });

      const resumed = await request(server, 'POST', `/api/runs/${runId}/resume`, { body: {} });
      expect(resumed.status, resumed.text).toBe(201);
      const { events } = await readEvents(server, runId);
      await server.runs.settled(runId);
      expect(events.at(-1)).toMatchObject({ type: 'runDone', summary: { status: 'done', failures: [] } });
      expect(emulator.duplicateSubmissions()).toEqual([]);
      expect(emulator.stats().submissions.bfl).toBe(3);

      const after = (await request(server, 'GET', '/api/runs')).json<{ runs: RunRecord[] }>().runs.find((r) => r.runId === runId)!;
      expect(after).toMatchObject({ status: 'done', resumable: false, resumed: true, imageCount: 3, providerCalls: 3 });
      // A finished run is not resumed again.
      expect((await request(server, 'POST', `/api/runs/${runId}/resume`, { body: {} })).status).toBe(409);

      const zip = await fetch(`${server.url}/api/runs/${runId}/zip`);
      expect(zip.headers.get('content-type')).toBe('application/zip');
      expect(zip.headers.get('content-disposition')).toBe(`attachment; filename="killed-cli-run-${runId}.zip"`);
      const entries = unzipSync(new Uint8Array(await zip.arrayBuffer()));
      expect(Object.keys(entries).sort()).toEqual(['final-0.jpg', 'final-0.json', 'final-1.jpg', 'final-1.json', 'final-2.jpg', 'final-2.json']);
      expect(Buffer.from(entries['final-1.jpg']).equals(readFileSync(join(cwd, 'out', 'final-1.jpg')))).toBe(true);
      expect(JSON.parse(Buffer.from(entries['final-0.json']).toString('utf8'))).toMatchObject({ node: 'drafts' });

      // Only files inside the run's output folder are served: a file swapped for a link out of it is left out.
      writeFileSync(join(cwd, 'secret.txt'), 'not for the zip');
      rmSync(join(cwd, 'out', 'final-2.jpg'));
      symlinkSync(join(cwd, 'secret.txt'), join(cwd, 'out', 'final-2.jpg'));
      const again = unzipSync(new Uint8Array(await (await fetch(`${server.url}/api/runs/${runId}/zip`)).arrayBuffer()));
      expect(Object.keys(again).sort()).toEqual(['final-0.jpg', 'final-0.json', 'final-1.jpg', 'final-1.json', 'final-2.json']);
    } finally {
      await server.close();
    }
  });
});
