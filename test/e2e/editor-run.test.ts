import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord, RunsResponse } from '../../editor/api/types';
import { dropFileOnCanvas, launchBrowser, node, openEditor, openFileWithButton, pageErrors, startEditorServer } from './helpers';

const EXAMPLE = resolve(__dirname, '../../examples/draft-then-refine.json');
const NODE_IDS = ['idea', 'drafts', 'save-drafts', 'pick', 'refine', 'save'];

let server: Awaited<ReturnType<typeof startEditorServer>>;
let browser: BrowserContext;

beforeAll(async () => {
  [server, browser] = await Promise.all([startEditorServer(), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function lastRun(): Promise<RunRecord> {
  const res = await fetch(`${server.url}/api/runs`);
  return ((await res.json()) as RunsResponse).runs[0];
}

describe('running pipelines in the editor', () => {
  it('opens examples/draft-then-refine.json, runs it on the emulator, shows every node finish and the thumbnails', async () => {
    const page = await openEditor(browser, server.url);
    await openFileWithButton(page, EXAMPLE);
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(6);
    await page.getByText('no errors').waitFor();

    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.locator('[data-run-status="done"]').waitFor();
    for (const id of NODE_IDS) {
      await node(page, id).locator('.fg-node[data-status="done"]').waitFor();
    }
    // Four drafts, and the two picked ones (0 and 2) refined.
    await expect.poll(() => node(page, 'drafts').locator('.fg-thumb img').count()).toBe(4);
    await expect.poll(() => node(page, 'refine').locator('.fg-thumb img').count()).toBe(2);
    await expect.poll(() => node(page, 'drafts').locator('.fg-thumb[aria-pressed="true"]').count()).toBe(2);
    const loaded = await node(page, 'refine')
      .locator('.fg-thumb img')
      .evaluateAll((imgs) => imgs.every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0));
    expect(loaded).toBe(true);
    await expect.poll(() => page.locator('[data-testid="gallery-images"] figure').count()).toBe(6);

    // A large preview on click.
    await page.locator('[data-testid="gallery-images"] figure button.fg-tile-image').first().click();
    const preview = page.getByRole('dialog');
    await preview.locator('img').waitFor();
    await page.keyboard.press('Escape');
    await preview.waitFor({ state: 'detached' });
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });

  it('picks drafts to refine by clicking their thumbnails', async () => {
    const page = await openEditor(browser, server.url);
    await openFileWithButton(page, EXAMPLE);
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.locator('[data-run-status="done"]').waitFor();

    // Draft 1 was not picked: clicking it adds it to the pick node's indices; draft 0 is dropped.
    await node(page, 'drafts').getByRole('button', { name: 'pick drafts image 1' }).click();
    await node(page, 'drafts').getByRole('button', { name: 'unpick drafts image 0' }).click();
    await node(page, 'pick').getByText('indices 1,2').waitFor();

    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.locator('[data-run-status="done"]').waitFor();
    await expect.poll(() => node(page, 'refine').locator('.fg-thumb').count()).toBe(2);
    const refined = (await lastRun()).images.filter((i) => i.nodeId === 'refine').map((i) => i.item);
    expect(refined.sort()).toEqual([1, 2]);
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });

  it('Stop cancels a running pipeline, also after a reload during the run', async () => {
    server.host.emulator!.setLatency(60_000);
    try {
      const page = await openEditor(browser, server.url);
      // Opened by dropping the file on the canvas this time; a subject no other test used, so
      // nothing comes from the cache and the run waits on the (slow) emulator.
      const doc = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as { settings: { variables: Record<string, string> } };
      doc.settings.variables.subject = 'a ship that is stopped halfway';
      await dropFileOnCanvas(page, 'draft-then-refine.json', JSON.stringify(doc));
      await expect.poll(() => page.locator('.react-flow__node').count()).toBe(6);
      const run = page.getByRole('button', { name: 'Run', exact: true });
      const stop = page.getByRole('button', { name: 'Stop', exact: true });
      expect(await stop.isDisabled()).toBe(true);
      await run.click();
      await node(page, 'drafts').locator('.fg-node[data-status="running"]').waitFor();
      // A reload in the middle of the run finds it again (autosaved canvas, events replayed).
      await expect.poll(() => page.evaluate(() => localStorage.getItem('fluxgraph.editor.autosave.v1')?.includes('a ship that is stopped') ?? false)).toBe(true);
      await page.reload();
      await node(page, 'drafts').locator('.fg-node[data-status="running"]').waitFor();
      await node(page, 'idea').locator('.fg-node[data-status="done"]').waitFor();
      await stop.click();
      await page.locator('[data-run-status="cancelled"]').waitFor();
      await node(page, 'drafts').locator('.fg-node[data-status="cancelled"]').waitFor();
      // Downstream of the cancel: cancelled too, never failed.
      for (const id of ['save-drafts', 'pick', 'refine', 'save']) await node(page, id).locator('.fg-node[data-status="cancelled"]').waitFor();
      expect(await page.locator('.fg-node[data-status="failed"]').count()).toBe(0);
      expect(await run.isEnabled()).toBe(true);
      expect((await lastRun()).status).toBe('cancelled');
      expect(pageErrors(page)).toEqual([]);
      await page.close();
    } finally {
      server.host.emulator!.setLatency(300);
    }
  });
});
