/**
 * The lightbox says how an image was made (seed, prompt, provider, cost, node), "Download all"
 * gets one ZIP of the run's images and sidecars, and History lists the ledger's runs (CLI runs
 * too) with the one closed list of statuses, and resumes an interrupted run until it reads done.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { unzipSync } from 'fflate';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { formatUsd, toMicros } from '../../engine/core/money';
import type { RunRecord, RunsResponse } from '../../editor/api/types';
import { cli } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';
import { launchBrowser, openEditor, openFileWithButton, pageErrors, screenshot, startEditorServer } from './helpers';

const EXAMPLE = resolve(__dirname, '../../examples/draft-then-refine.json');
let server: Awaited<ReturnType<typeof startEditorServer>>;
let browser: BrowserContext;
let cwd: string;
let killedRun = '';

const CLI_PIPELINE = {
  version: 1,
  name: 'cli-lighthouse',
  nodes: [
    { id: 'idea', type: 'prompt', params: { text: 'a lighthouse in fog' } },
    { id: 'drafts', type: 'flux-flex-generate', params: { count: 6, steps: 4, width: 256, height: 256 } },
    { id: 'save', type: 'save-image', params: { template: 'cli-{index}' } },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
};

beforeAll(async () => {
  cwd = tempDir('fluxgraph-e2e-history-');
  writeFileSync(join(cwd, 'cli.json'), JSON.stringify(CLI_PIPELINE));
  // A CLI run in the same folder, killed with -9 after its first image: interrupted, resumable.
  const killed = await cli(['run', 'cli.json', '--json', '--out', 'out', '--concurrency', 'bfl=2'], {
    cwd,
    env: { FLUXGRAPH_EMULATOR: 'always' },
    onLine: (line: string, child: ChildProcess) => {
      const e = JSON.parse(line) as RunEvent;
      if (e.type === 'runStart') killedRun = e.runId;
      if (e.type === 'itemDone' && e.nodeId === 'drafts') child.kill('SIGKILL');
    },
  });
  expect(killed.signal).toBe('SIGKILL');
  [server, browser] = await Promise.all([startEditorServer({ cwd }), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function runs(): Promise<RunRecord[]> {
  return ((await (await fetch(`${server.url}/api/runs`)).json()) as RunsResponse).runs;
}

describe('the lightbox and download all', () => {
  it('shows the node, seed, prompt, provider and cost of an image, and Download all gets one ZIP of the run’s images and sidecars', async () => {
    const page = await openEditor(browser, server.url);
    await openFileWithButton(page, EXAMPLE);
    await page.getByText('no errors').waitFor();
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.locator('[data-run-status="done"]').waitFor();
    const run = (await runs())[0];

    await page.getByRole('button', { name: 'open drafts image 1' }).click();
    const facts = page.getByTestId('image-facts');
    await facts.waitFor();
    const fact = (name: string) => facts.locator(`[data-fact="${name}"] dd`).innerText();
    expect(await fact('node')).toBe('drafts · image 1');
    // The same figures as the run's own record of that image.
    const record = (await (await fetch(`${server.url}/api/runs/${run.runId}`)).json()) as RunRecord;
    const img = record.images.find((i) => i.nodeId === 'drafts' && i.item === 1)!;
    expect(await fact('seed')).toBe(String(img.facts!.seed));
    expect(await fact('prompt')).toBe(img.facts!.prompt);
    expect(await fact('provider')).toBe('bfl (flex)');
    expect(await fact('cost')).toBe(formatUsd(img.facts!.costMicros!, img.facts!.costEstimated));
    expect(img.facts!.costMicros).toBeGreaterThan(0);
    await screenshot(page, 'lightbox-facts.png');
    await page.keyboard.press('Escape');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-all').click()]);
    expect(download.suggestedFilename()).toBe(`${record.pipeline}-${run.runId}.zip`);
    const entries = unzipSync(new Uint8Array(readFileSync(await download.path())));
    const names = Object.keys(entries).sort();
    const written = record.imagesWritten.map((p) => p.slice(join(cwd, 'out').length + 1)).sort();
    expect(written.length).toBe(6);
    expect(names).toEqual([...written, ...written.map((p) => p.replace(/\.\w+$/, '.json'))].sort());
    const sidecar = JSON.parse(Buffer.from(entries[written[0].replace(/\.\w+$/, '.json')]).toString('utf8')) as { costUsd?: number };
    expect(toMicros(sidecar.costUsd)).toBeGreaterThanOrEqual(0);
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });
});

describe('History', () => {
  it('lists CLI and editor runs with their statuses, and resumes an interrupted CLI run until it reads done', async () => {
    const page = await openEditor(browser, server.url);
    await page.getByRole('tab', { name: 'History' }).click();
    const row = page.locator(`[data-testid="history"] li[data-run-id="${killedRun}"]`);
    await row.waitFor();
    expect(await row.getAttribute('data-status')).toBe('interrupted');
    await row.getByText('CLI', { exact: true }).waitFor();
    await row.locator('.fg-badge').filter({ hasText: 'interrupted' }).waitFor();
    await screenshot(page, 'history-interrupted.png');

    await row.getByRole('button', { name: 'Resume' }).click();
    await page.locator('[data-run-status="done"]').waitFor();
    await page.getByRole('tab', { name: 'History' }).click();
    await page.locator(`[data-testid="history"] li[data-run-id="${killedRun}"][data-status="done"]`).waitFor();
    await row.getByText('resumed', { exact: true }).waitFor();
    expect(await row.getByRole('button', { name: 'Resume', exact: true }).count()).toBe(0);
    const listed = (await runs()).find((r) => r.runId === killedRun)!;
    expect(listed).toMatchObject({ status: 'done', resumable: false, imageCount: 6 });
    // The CLI agrees.
    const fromCli = JSON.parse((await cli(['runs', '--json'], { cwd })).stdout) as { runId: string; status: string }[] | { runs: { runId: string; status: string }[] };
    const list = Array.isArray(fromCli) ? fromCli : fromCli.runs;
    expect(list.find((r) => r.runId === killedRun)?.status).toBe('done');

    // Its images open from History, with the facts the ledger keeps.
    await row.locator('button').first().click();
    await expect.poll(() => page.locator('[data-testid="gallery-images"] figure').count()).toBe(6);
    await screenshot(page, 'history-resumed.png');
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });
});
