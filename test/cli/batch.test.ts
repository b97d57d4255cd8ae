/** `--inputs`, `--rows`, results.csv, the batch pre-flight, and resuming a batch, through the real CLI. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { cli, withoutProviderLines } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

const PIPELINE = {
  version: 1,
  name: 'batch-cli',
  nodes: [
    { id: 'idea', type: 'prompt', params: { text: '{product}, {style}' } },
    { id: 'gen', type: 'flux-flex-generate', params: { width: 256, height: 256, steps: 4, seed: 3 } },
    { id: 'save', type: 'save-image', params: { template: '{run}/{row}-{field:sku}-{index}' } },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'gen', targetHandle: 'prompt' },
    { source: 'gen', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
};

const CSV = 'sku,product,style\nA1,"mug, blue",flat lay\nB2,lamp,noir\nC3,chair,"studio\nlight"\nD4,bag,dawn\n';

function setup(csv = CSV, pipeline: unknown = PIPELINE): string {
  const cwd = tempDir();
  writeFileSync(join(cwd, 'p.json'), JSON.stringify(pipeline));
  writeFileSync(join(cwd, 'rows.csv'), csv);
  return cwd;
}

const events = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as RunEvent);
/** results.csv as records (fields may hold newlines), header first. */
const readCsv = (path: string) => parse(readFileSync(path, 'utf8')) as string[][];

describe('fluxgraph run --inputs', () => {
  it('runs the pipeline once per row of the slice, in one run, and writes results.csv', async () => {
    const cwd = setup();
    const r = await cli(['run', 'p.json', '--inputs', 'rows.csv', '--rows', '2-3', '--out', 'out', '--json'], { cwd });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const evs = events(r.stdout);
    const runId = evs[0].type === 'runStart' ? evs[0].runId : '';
    const prompts = evs.flatMap((e) => (e.type === 'itemDone' && e.nodeId === 'idea' && e.value.kind === 'text' ? [`${e.row?.n}:${e.value.text}`] : [])).sort();
    expect(prompts).toEqual(['2:lamp, noir', '3:chair, studio\nlight']);
    expect(readdirSync(join(cwd, 'out', runId)).sort()).toEqual(['2-B2-0.jpg', '2-B2-0.json', '3-C3-0.jpg', '3-C3-0.json', 'results.csv']);
    const [header, ...lines] = readCsv(join(cwd, 'out', runId, 'results.csv'));
    expect(header).toEqual(['row', 'sku', 'product', 'style', 'status', 'node', 'file', 'cost_usd', 'provider', 'task_id', 'error']);
    const sidecar = JSON.parse(readFileSync(join(cwd, 'out', runId, '2-B2-0.json'), 'utf8'));
    expect(lines.sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([
      ['2', 'B2', 'lamp', 'noir', 'done', 'gen', '2-B2-0.jpg', String(sidecar.costUsd), 'bfl', sidecar.taskId, ''],
      ['3', 'C3', 'chair', 'studio\nlight', 'done', 'gen', '3-C3-0.jpg', expect.stringMatching(/^0\.\d+$/), 'bfl', expect.any(String), ''],
    ]);
    expect(JSON.parse(readFileSync(join(cwd, 'out', runId, '2-B2-0.json'), 'utf8'))).toMatchObject({ row: { n: 2, fields: { sku: 'B2' } }, seed: 3, prompt: 'lamp, noir' });
  });

  it('estimates the batch as rows × one row and refuses a budget it would exceed before submitting', async () => {
    const cwd = setup('sku,product,style\n' + Array.from({ length: 500 }, (_, i) => `S${i},thing ${i},plain`).join('\n') + '\n');
    const est = await cli(['estimate', 'p.json', '--inputs', 'rows.csv', '--json'], { cwd });
    expect(est.code).toBe(0);
    const e = JSON.parse(est.stdout);
    expect(e).toMatchObject({ batch: { rows: 500 }, calls: 500 });
    const one = JSON.parse((await cli(['estimate', 'p.json', '--inputs', 'rows.csv', '--rows', '7', '--json'], { cwd })).stdout);
    expect(one).toMatchObject({ batch: { rows: 1 }, calls: 1 });
    expect(e.totalUsd).toBeCloseTo(one.totalUsd * 500, 6);
    const run = await cli(['run', 'p.json', '--inputs', 'rows.csv', '--budget', String(one.totalUsd * 10), '--out', 'out'], { cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/over the budget .* nothing was submitted/);
  });

  it.each([
    ['a row missing a column', 'sku,product,style\nA1,mug,flat\nB2,lamp\n', /rows\.csv:3: has 2 fields, the header has 3 \(missing: style\)/],
    ['a bad quote', 'sku,product,style\nA1,mug,flat\nB2,"lamp"x,noir\n', /rows\.csv:3: malformed CSV/],
    ['a column the prompt needs', 'sku,product\nA1,mug\n', /placeholder \{style\} has no value/],
  ])('validate reports %s before anything is spent', async (_case, csv, message) => {
    const cwd = setup(csv);
    const r = await cli(['validate', 'p.json', '--inputs', 'rows.csv'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('validate and run list every malformed row of the file with its line before anything is spent', async () => {
    const cwd = setup('sku,product,style\nA1,mug,flat\nB2,"lamp"x,noir\nC3,cup,flat\nD4,vase\nE5,"bowl"y,plain\n');
    for (const command of ['validate', 'run']) {
      const r = await cli([command, 'p.json', '--inputs', 'rows.csv', '--out', 'out'], { cwd });
      expect(r.code).toBe(2);
      const lines = r.stderr.split('\n').filter((l) => /rows\.csv:\d+:/.test(l));
      expect(lines.map((l) => /rows\.csv:(\d+):/.exec(l)![1])).toEqual(['3', '5', '6']);
    }
    expect(existsSync(join(cwd, '.fluxgraph', 'store'))).toBe(false);
  });

  it('refuses --rows without --inputs, and a malformed range', async () => {
    const cwd = setup();
    expect((await cli(['run', 'p.json', '--rows', '1-2'], { cwd })).stderr).toMatch(/--rows 1-2 takes a slice of the rows of --inputs/);
    expect((await cli(['run', 'p.json', '--inputs', 'rows.csv', '--rows', '3-1'], { cwd })).stderr).toMatch(/--rows 3-1: expected data rows as from-to/);
  });
});

describe('resuming a batch', () => {
  let emulator: Emulator;
  beforeAll(async () => {
    emulator = await startEmulator({ latencyMs: 600 });
  });
  afterAll(() => emulator.close());

  it('a killed batch resumes without repeating its finished rows', async () => {
    emulator.reset();
    const cwd = setup('sku,product,style\n' + Array.from({ length: 6 }, (_, i) => `S${i + 1},thing ${i + 1},plain`).join('\n') + '\n');
    const env = { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: 'batch-test-key' };
    let runId = '';
    let submitted = 0;
    let written = 0;
    const first = await cli(['run', 'p.json', '--inputs', 'rows.csv', '--out', 'out', '--json', '--concurrency', 'bfl=2'], {
      cwd,
      env,
      onLine: (line, child: ChildProcess) => {
        const e = JSON.parse(line) as RunEvent;
        if (e.type === 'runStart') runId = e.runId;
        if (e.type === 'fileWritten') written++;
        if (e.type === 'nodeProgress' && /submitted$/.test(e.status ?? '')) submitted++;
        // Two rows finished and the next two acknowledged (both lanes waiting): nothing is on the wire.
        if (written >= 2 && submitted >= 4 && !child.killed) child.kill('SIGKILL');
      },
    });
    expect(first.signal).toBe('SIGKILL');
    const resumed = await cli(['run', '--resume', runId, '--json'], { cwd, env });
    expect(withoutProviderLines(resumed.stderr)).toBe('');
    expect(events(resumed.stdout).at(-1)).toMatchObject({ type: 'runDone', summary: { status: 'done', failures: [] } });
    expect(written).toBe(2);
    expect(emulator.duplicateSubmissions()).toEqual([]);
    expect(emulator.stats().submissions.bfl).toBe(6);
    const lines = readCsv(join(cwd, 'out', runId, 'results.csv')).slice(1);
    expect(lines.map((l) => `${l[0]}:${l[4]}`).sort()).toEqual(['1:done', '2:done', '3:done', '4:done', '5:done', '6:done']);
  });

  it('a resume leaves a failed row failed; --retry-failed sends it again after stating the cost', async () => {
    emulator.reset();
    emulator.setLatency(50);
    const cwd = setup('sku,product,style\nA1,mug,plain\nB2,lamp [moderate-content],plain\nC3,chair,plain\n');
    const env = { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: 'batch-test-key' };
    const first = await cli(['run', 'p.json', '--inputs', 'rows.csv', '--out', 'out', '--json'], { cwd, env });
    expect(first.code).toBe(1);
    const runId = (events(first.stdout)[0] as { runId: string }).runId;
    expect(emulator.stats().submissions.bfl).toBe(3);
    const lines = readCsv(join(cwd, 'out', runId, 'results.csv'));
    expect(lines.find((l) => l[0] === '2')).toEqual(['2', 'B2', 'lamp [moderate-content]', 'plain', 'failed', 'gen', '', '', 'bfl', expect.any(String), expect.stringMatching(/Moderated/)]);

    const resumed = await cli(['run', '--resume', runId, '--json'], { cwd, env });
    expect(resumed.code).toBe(1);
    expect(emulator.stats().submissions.bfl).toBe(3);
    expect(events(resumed.stdout).at(-1)).toMatchObject({ summary: { failures: [expect.objectContaining({ row: expect.objectContaining({ n: 2 }), message: expect.stringMatching(/--retry-failed/) })] } });

    const retried = await cli(['run', '--resume', runId, '--retry-failed', '--json'], { cwd, env });
    expect(retried.stderr).toMatch(/Retrying 1 failed provider call of run .*: about \$0\.\d+/);
    expect(emulator.stats().submissions.bfl).toBe(4);
  });
});

describe('the BFL balance against a whole batch', () => {
  let poor: Emulator;
  beforeAll(async () => {
    // $0.12 of credit: one row ($0.05 a draft) fits, the four rows of the file do not.
    poor = await startEmulator({ latencyMs: 100, initialCredits: 12 });
  });
  afterAll(() => poor.close());

  it('refuses a run whose rows together cost more than the balance, saying both figures, before any submit', async () => {
    const cwd = setup();
    const env = { BFL_API_KEY: 'poor-key', BFL_BASE_URL: poor.baseUrl };
    const run = await cli(['run', 'p.json', '--inputs', 'rows.csv', '--out', 'out'], { cwd, env });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Black Forest Labs: this run is estimated at \$0\.20, but the account's balance is \$0\.12/);
    expect(poor.stats().submissions.bfl).toBe(0);
    // One row fits the balance and runs.
    const one = await cli(['run', 'p.json', '--inputs', 'rows.csv', '--rows', '2', '--out', 'out', '--json'], { cwd, env });
    expect(one.code).toBe(0);
    expect(poor.stats().submissions.bfl).toBe(1);
  });
});
