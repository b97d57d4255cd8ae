/**
 * Pipelines opened by path: `fluxgraph serve proj/reference-edit.json` opens that file, its
 * relative reference path resolves against its folder (the inspector shows where), it runs,
 * Save writes it back, and Open lists and opens the base folder's files.
 */
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/tmp';
import { launchBrowser, node, openEditor, pageErrors, screenshot, startEditorServer } from './helpers';

const EXAMPLES = resolve(__dirname, '../../examples');
const BIN = resolve(__dirname, '../../bin/fluxgraph.mjs');
const run = promisify(execFile);
let server: Awaited<ReturnType<typeof startEditorServer>>;
let browser: BrowserContext;
let cwd: string;

beforeAll(async () => {
  cwd = tempDir('fluxgraph-e2e-docs-');
  mkdirSync(join(cwd, 'proj'));
  cpSync(join(EXAMPLES, 'reference-edit.json'), join(cwd, 'proj/reference-edit.json'));
  cpSync(join(EXAMPLES, 'assets'), join(cwd, 'proj/assets'), { recursive: true });
  [server, browser] = await Promise.all([startEditorServer({ cwd, open: 'proj/reference-edit.json' }), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(cwd, { recursive: true, force: true });
});

describe('pipelines opened by path', () => {
  it('opens the file given to serve, resolves its reference against its folder, runs it and saves it back', async () => {
    const page = await openEditor(browser, server.url);
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(4);
    await page.locator('[data-source="proj/reference-edit.json"]').waitFor();
    await page.getByText('no errors').waitFor();
    expect(await node(page, 'photo').locator('.fg-node-invalid').count()).toBe(0);

    await node(page, 'photo').locator('.fg-node-header').click();
    await page.getByTestId('resolved-path').filter({ hasText: join(cwd, 'proj/assets/still-life.png') }).waitFor();
    await screenshot(page, 'opened-by-path.png');

    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.locator('[data-run-status="done"]').waitFor();
    await expect.poll(() => node(page, 'edit').locator('.fg-thumb img').count()).toBe(1);

    // Save writes the edit back to the same file.
    await node(page, 'instruction').locator('.fg-node-header').click();
    await page.locator('.fg-field[data-param="text"] textarea').fill('Turn it into a pencil sketch');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByTestId('notice').filter({ hasText: 'saved proj/reference-edit.json' }).waitFor();
    const saved = JSON.parse(readFileSync(join(cwd, 'proj/reference-edit.json'), 'utf8')) as { nodes: { id: string; params: { text?: string } }[] };
    expect(saved.nodes.find((n) => n.id === 'instruction')!.params.text).toBe('Turn it into a pencil sketch');
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });

  it('Save of a new document asks for a path in the base folder and never silently replaces a file; Open lists it', async () => {
    const page = await openEditor(browser, server.url);
    // The opened file wins over the empty autosave; start a new document from a template.
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(4);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Open a pipeline' });
    await dialog.locator('button[data-path="proj/reference-edit.json"]').waitFor();
    await dialog.locator('button[data-template="draft-then-refine"]').click();
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(6);

    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const save = page.getByRole('dialog', { name: 'Save the pipeline' });
    await save.getByLabel("File, in the server's base folder").fill('proj/reference-edit.json');
    await save.getByRole('button', { name: 'Save', exact: true }).click();
    await save.getByRole('alert').filter({ hasText: 'already exists' }).waitFor();
    await save.getByLabel("File, in the server's base folder").fill('proj/drafts.json');
    await save.getByRole('button', { name: 'Save', exact: true }).click();
    await save.waitFor({ state: 'detached' });
    await page.locator('[data-source="proj/drafts.json"]').waitFor();
    expect((JSON.parse(readFileSync(join(cwd, 'proj/drafts.json'), 'utf8')) as { nodes: unknown[] }).nodes).toHaveLength(6);

    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await dialog.locator('button[data-path="proj/reference-edit.json"]').click();
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(4);
    await page.locator('[data-source="proj/reference-edit.json"]').waitFor();
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });
});

describe('reference images from the browser', () => {
  it('a dropped, pasted or picked image is written into assets/ beside the file, and the CLI runs the saved pipeline', async () => {
    const page = await openEditor(browser, server.url);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await page.getByRole('dialog', { name: 'Open a pipeline' }).locator('button[data-path="proj/reference-edit.json"]').click();
    await page.locator('[data-source="proj/reference-edit.json"]').waitFor();
    // Run last: this saves the file with one more node.
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(4);
    const png = readFileSync(join(EXAMPLES, 'assets/still-life.png'));

    // Dropped on the reference node: its image (the existing still-life.png is kept).
    const transfer = await page.evaluateHandle((b64) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'still-life.png', { type: 'image/png' }));
      return dt;
    }, png.toString('base64'));
    await node(page, 'photo').dispatchEvent('drop', { dataTransfer: transfer });
    await node(page, 'photo').getByText('assets/still-life-2.png').waitFor();
    expect(readFileSync(join(cwd, 'proj/assets/still-life-2.png')).equals(png)).toBe(true);
    expect(readFileSync(join(cwd, 'proj/assets/still-life.png')).equals(png)).toBe(true);

    // Pasted on the canvas with nothing selected: a new reference-image node.
    await page.locator('.react-flow__pane').click({ position: { x: 5, y: 5 } });
    await page.evaluate((b64) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'Pasted Image.png', { type: 'image/png' }));
      window.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    }, png.toString('base64'));
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(5);
    await node(page, 'reference-image-1').getByText('assets/pasted-image.png').waitFor();

    // Picked in the inspector.
    await node(page, 'reference-image-1').locator('.fg-node-header').click();
    await page.getByTestId('choose-reference').setInputFiles({ name: 'picked.png', mimeType: 'image/png', buffer: png });
    await node(page, 'reference-image-1').getByText('assets/picked.png').waitFor();
    await page.locator('.react-flow__pane').click({ position: { x: 5, y: 5 } });
    await page.getByText('no errors').waitFor();

    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByTestId('notice').filter({ hasText: 'saved proj/reference-edit.json' }).waitFor();
    const saved = readFileSync(join(cwd, 'proj/reference-edit.json'), 'utf8');
    expect(saved).toContain('"source": "assets/still-life-2.png"');
    // The CLI finds every image of the saved file, from any working folder.
    const cli = await run(process.execPath, [BIN, 'validate', join(cwd, 'proj/reference-edit.json')], { cwd: tmpdir() });
    expect(cli.stdout + cli.stderr).not.toContain('not found');
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });
});
