/**
 * Batches in the editor, in the real browser: a list node shows its row count and first entries,
 * the estimate shows the batch's total, the gallery groups images by row, and a pick toggle in a
 * batch counts the drafts of its own row (pick-images' indices are per row).
 */
import { cpSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp';
import { launchBrowser, node, openEditor, pageErrors, screenshot, startEditorServer } from './helpers';

const EXAMPLES = resolve(__dirname, '../../examples');
let server: Awaited<ReturnType<typeof startEditorServer>>;
let browser: BrowserContext;

beforeAll(async () => {
  const cwd = tempDir('fluxgraph-e2e-batch-');
  cpSync(join(EXAMPLES, 'batch-products.json'), join(cwd, 'batch-products.json'));
  cpSync(join(EXAMPLES, 'assets'), join(cwd, 'assets'), { recursive: true });
  // Three rows keep the run short; the example's own twelve are run by test/examples.test.ts.
  writeFileSync(
    join(cwd, 'assets', 'products.csv'),
    'sku,product,material,style\nMUG-01,"espresso cup, matte black",ceramic,minimal studio\nMUG-02,travel mug,brushed steel,outdoor morning light\nLMP-01,desk lamp,walnut,warm evening\n',
  );
  [server, browser] = await Promise.all([startEditorServer({ cwd, open: 'batch-products.json' }), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('batches in the editor', () => {
  it('shows the list’s rows and first entries, the batch total, images grouped by row, and per-row pick toggles', async () => {
    const page = await openEditor(browser, server.url);
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(6);

    // The list node: 3 rows and its first entries, filled from the template.
    const preview = node(page, 'products').getByTestId('list-preview');
    await preview.waitFor();
    expect(await preview.getAttribute('data-count')).toBe('3');
    await preview.getByText('3 rows').waitFor();
    expect(await preview.locator('li').allInnerTexts()).toEqual(['espresso cup, matte black in ceramic, product photo, minimal studio', 'travel mug in brushed steel, product photo, outdoor morning light', 'desk lamp in walnut, product photo, warm evening']);

    // The estimate is the whole batch's: 3 rows × (2 drafts + 1 refine).
    const estimate = page.locator('[data-testid="estimate"][data-state="ready"]');
    await estimate.waitFor();
    expect(await estimate.getAttribute('data-calls')).toBe('9');
    expect(await estimate.innerText()).toMatch(/9 calls · batch of 3 rows$/);
    await screenshot(page, 'batch-before-run.png');

    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.locator('[data-run-status="done"]').waitFor();

    // Grouped by row: one heading per row, that row's images after it (a refine keeps its draft's item number).
    const heads = page.locator('[data-testid="gallery-row"]');
    await expect.poll(() => heads.allInnerTexts()).toEqual(['row 1', 'row 2', 'row 3']);
    const order = await page.locator('[data-testid="gallery-images"] > *').evaluateAll((els) => els.map((e) => (e.matches('[data-testid="gallery-row"]') ? e.textContent : e.querySelector('figcaption span')?.textContent)));
    expect(order).toEqual(['row 1', 'drafts #0', 'drafts #1', 'refine #0', 'row 2', 'drafts #2', 'drafts #3', 'refine #2', 'row 3', 'drafts #4', 'drafts #5', 'refine #4']);

    // The pick takes the first draft of every row ([0]): the first draft of each row is marked picked.
    const drafts = page.locator('[data-testid="gallery-images"] figure').filter({ hasText: 'drafts' });
    await expect.poll(() => drafts.evaluateAll((els) => els.map((e) => e.classList.contains('fg-tile-picked')))).toEqual([true, false, true, false, true, false]);
    // Toggling the second draft of row 3 picks index 1 (within its row), not the global item 5.
    await drafts.nth(5).getByRole('button', { name: 'pick' }).click();
    await node(page, 'pick').locator('.fg-node-header').click();
    await expect.poll(() => page.evaluate(() => JSON.parse(localStorage.getItem('fluxgraph.editor.autosave.v1') ?? '{}').nodes?.find((n: { id: string }) => n.id === 'pick')?.params?.indices)).toEqual([0, 1]);
    // Per row: now both drafts of every row are picked.
    await expect.poll(() => drafts.evaluateAll((els) => els.every((e) => e.classList.contains('fg-tile-picked')))).toBe(true);
    await screenshot(page, 'batch-after-run.png');
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });
});
