/**
 * Never paying twice, in the browser: the estimate before Run (and $0 for what a run already
 * made), cached items shown as cached, run to here from the node menu and the keyboard, and
 * dropping a saved image to open the pipeline it carries.
 */
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pipeline } from '../../engine/core/pipeline-schema';
import type { RunRecord, RunsResponse, StartRunResponse } from '../../editor/api/types';
import { dropBytesOnCanvas, dropFileOnCanvas, launchBrowser, node, openEditor, pageErrors, startEditorServer } from './helpers';

const EXAMPLE = JSON.parse(readFileSync(resolve(__dirname, '../../examples/draft-then-refine.json'), 'utf8')) as Pipeline;
const AUTOSAVE_KEY = 'fluxgraph.editor.autosave.v1';

let server: Awaited<ReturnType<typeof startEditorServer>>;
let browser: BrowserContext;

beforeAll(async () => {
  [server, browser] = await Promise.all([startEditorServer(), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** The example with a subject no other test uses, so nothing of it is cached yet. */
function example(subject: string, seeded = true): Pipeline {
  const doc = structuredClone(EXAMPLE);
  doc.settings = { ...doc.settings, variables: { subject } };
  if (!seeded) for (const n of doc.nodes) delete n.params.seed;
  return doc;
}

async function openExample(page: Page, doc: Pipeline): Promise<void> {
  await dropFileOnCanvas(page, 'draft-then-refine.json', JSON.stringify(doc));
  await expect.poll(() => page.locator('.react-flow__node').count()).toBe(6);
}

async function runs(): Promise<RunRecord[]> {
  return ((await (await fetch(`${server.url}/api/runs`)).json()) as RunsResponse).runs;
}

const estimate = (page: Page) => page.getByTestId('estimate');
const runButton = (page: Page) => page.getByRole('button', { name: 'Run', exact: true });

describe('never paying twice in the editor', () => {
  it('shows the estimate before Run, and $0 with the drafts cached once a run has made them', async () => {
    const page = await openEditor(browser, server.url);
    await openExample(page, example('an estimated harbour'));

    // Before any run: 4 drafts and 2 refines, all to be paid for.
    await page.locator('[data-testid="estimate"][data-state="ready"][data-calls="6"][data-cached="0"]').waitFor();
    expect(await estimate(page).textContent()).toMatch(/^≈ \$0\.\d{2,4} · 6 calls$/);
    const drafts = node(page, 'drafts').getByTestId('node-estimate');
    await expect.poll(() => drafts.getAttribute('data-calls')).toBe('4');
    expect(await drafts.textContent()).toMatch(/≈ \$0\.\d{2,4} · 4 calls/);
    expect(await node(page, 'refine').getByTestId('node-estimate').getAttribute('data-calls')).toBe('2');
    expect(await node(page, 'pick').getByTestId('node-estimate').count()).toBe(0);
    const before = Number(await estimate(page).getAttribute('data-usd'));

    await runButton(page).click();
    await page.locator('[data-run-status="done"]').waitFor();
    // What the run paid, per node, and in total: the estimate.
    const paid = Number(await node(page, 'drafts').locator('.fg-cost').getAttribute('data-cost'));
    expect(paid).toBeGreaterThan(0);
    expect((await runs())[0].costUsd).toBeCloseTo(before, 6);

    // The next run would take all of it from the cache.
    await page.locator('[data-testid="estimate"][data-state="ready"][data-calls="0"][data-cached="6"]').waitFor();
    expect(await estimate(page).textContent()).toBe('≈ $0 · 6 calls (all cached)');
    await expect.poll(() => drafts.getAttribute('data-cached')).toBe('4');
    expect(await drafts.textContent()).toBe('next run $0 · 4 cached');

    // ...and does: the drafts say so on the node and in the gallery.
    await runButton(page).click();
    await page.locator('[data-run-status="done"]').filter({ hasText: '6 cached' }).waitFor();
    await node(page, 'drafts').getByText('4 items (4 cached)').waitFor();
    await node(page, 'refine').getByText('2 items (2 cached)').waitFor();
    expect(await node(page, 'drafts').locator('.fg-cost').count()).toBe(0);
    await expect.poll(() => page.locator('[data-testid="gallery-images"] figure[data-cached="true"]').count()).toBe(6);
    expect(await page.locator('[data-testid="gallery-images"] figure').first().getByText('cached', { exact: true }).isVisible()).toBe(true);
    expect((await runs())[0]).toMatchObject({ status: 'done', costUsd: 0 });
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });

  it('runs to the pick node from its context menu: only idea, drafts and pick run, the rest keeps its state, dimmed', async () => {
    const page = await openEditor(browser, server.url);
    // Random seeds: what is reused is what the earlier runs drew.
    await openExample(page, example('a harbour run to here', false));
    await runButton(page).click();
    await page.locator('[data-run-status="done"]').waitFor();
    await expect.poll(() => node(page, 'refine').locator('.fg-thumb img').count()).toBe(2);
    const full = (await runs())[0];

    await node(page, 'pick').locator('.fg-node-header').click({ button: 'right' });
    const menu = page.getByRole('menu', { name: 'Node pick' });
    await menu.getByRole('menuitem', { name: /Run to here/ }).click();
    await menu.waitFor({ state: 'detached' });
    await page.locator('[data-run-status="done"]').filter({ hasText: 'Done (to "pick")' }).waitFor();

    const partial = (await runs())[0];
    expect(partial.runId).not.toBe(full.runId);
    expect(partial.only).toEqual(['pick']);
    expect(new Set(partial.images.map((i) => i.nodeId))).toEqual(new Set(['drafts', 'pick']));
    expect(partial.images.filter((i) => i.nodeId === 'drafts').every((i) => i.cached)).toBe(true);
    expect(partial.imagesWritten).toEqual([]);

    for (const id of ['idea', 'drafts', 'pick']) await node(page, id).locator('.fg-node[data-status="done"]:not([data-outside])').waitFor();
    await node(page, 'drafts').getByText('4 items (4 cached)').waitFor();
    // Not part of this run: dimmed, still showing the previous run's refines.
    for (const id of ['refine', 'save', 'save-drafts']) await node(page, id).locator('.fg-node[data-outside="true"]').waitFor();
    expect(await node(page, 'refine').locator('.fg-thumb img').count()).toBe(2);
    // The gallery lists this run's images first, the earlier refines after them, dimmed.
    const tiles = page.locator('[data-testid="gallery-images"] figure');
    await expect.poll(() => tiles.evaluateAll((els) => els.map((e) => (e.getAttribute('data-earlier') ? 'earlier' : 'now')).join(','))).toBe('now,now,now,now,earlier,earlier');

    // The keyboard: select the drafts node, Ctrl+Shift+Enter; the shortcut is in the help.
    await node(page, 'drafts').locator('.fg-node-header').click();
    await page.keyboard.press('Control+Shift+Enter');
    await page.locator('[data-run-status="done"]').filter({ hasText: 'Done (to "drafts")' }).waitFor();
    expect((await runs())[0].only).toEqual(['drafts']);
    await node(page, 'pick').locator('.fg-node[data-outside="true"]').waitFor();
    await page.keyboard.press('?');
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).getByRole('row').filter({ hasText: 'Ctrl+Shift+Enter' }).getByText(/Run to here/).waitFor();
    await page.keyboard.press('Escape');

    // A full run includes every node again, and with the seeds of the first run pays for nothing.
    await page.locator('[data-testid="estimate"][data-state="ready"][data-calls="0"][data-cached="6"]').waitFor();
    await runButton(page).click();
    await page.locator('[data-run-status="done"]').filter({ hasText: /^Done in .* · 6 cached/ }).waitFor();
    expect(await page.locator('.fg-node[data-outside]').count()).toBe(0);
    const last = (await runs())[0];
    expect(last.costUsd).toBe(0);
    expect(last.only).toBeUndefined();
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });

  it('opens the pipeline a saved image carries when the image is dropped on the canvas', async () => {
    // A run with random seeds, made outside this page; the saved draft carries the seed drawn.
    const started = await fetch(`${server.url}/api/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pipeline: example('a harbour in a saved image', false) }),
    });
    const { runId } = (await started.json()) as StartRunResponse;
    await expect.poll(async () => (await runs()).find((r) => r.runId === runId)?.status, { timeout: 30_000 }).toBe('done');
    const record = (await runs()).find((r) => r.runId === runId)!;
    const file = record.imagesWritten.find((f) => /draft-1\.(jpg|png|webp)$/.test(f))!;
    const sidecar = JSON.parse(readFileSync(file.replace(/\.\w+$/, '.json'), 'utf8')) as { node: string; seed: number; params: { seed: number } };
    const mime = file.endsWith('.png') ? 'image/png' : file.endsWith('.webp') ? 'image/webp' : 'image/jpeg';

    const page = await openEditor(browser, server.url);
    await dropBytesOnCanvas(page, basename(file), mime, readFileSync(file));
    await page.getByTestId('notice').filter({ hasText: `opened the pipeline of ${basename(file)} from run ${runId}` }).waitFor();
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(6);
    const ids = await page.locator('.react-flow__node').evaluateAll((els) => els.map((e) => e.getAttribute('data-id')));
    expect(ids.sort()).toEqual(EXAMPLE.nodes.map((n) => n.id).sort());

    // The node that made the image is selected; its seed is the one the run drew.
    const inspector = page.getByLabel('Inspector: drafts');
    await inspector.waitFor();
    expect(sidecar.node).toBe('drafts');
    expect(await inspector.getByLabel('Seed', { exact: true }).inputValue()).toBe(String(sidecar.params.seed));
    expect(sidecar.seed).toBe(sidecar.params.seed + 1);
    await expect
      .poll(async () => {
        const saved = await page.evaluate((key) => localStorage.getItem(key), AUTOSAVE_KEY);
        return saved ? (JSON.parse(saved) as Pipeline).nodes.find((n) => n.id === 'drafts')?.params.seed : undefined;
      })
      .toBe(sidecar.params.seed);
    await page.keyboard.press('Escape');
    await page.getByText('no errors').waitFor();

    // An image fluxgraph did not save (the provider's bytes, as stored) becomes a reference image,
    // written beside the document (no file of its own here: in the base folder).
    const bare = Buffer.from(await (await fetch(`${server.url}/api/images/${record.images[0].hash}`)).arrayBuffer());
    await dropBytesOnCanvas(page, 'photo.jpg', 'image/jpeg', bare);
    await page.getByTestId('notice').filter({ hasText: 'saved photo.jpg as assets/photo.jpg' }).waitFor();
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(7);
    await page.locator('.react-flow__node .fg-node[data-node-type="reference-image"]').getByText('assets/photo.jpg').waitFor();
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });
});
