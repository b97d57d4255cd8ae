import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pipeline } from '../../engine/core/pipeline-schema';
import { tempDir } from '../helpers/tmp';
import { connect, handle, launchBrowser, node, openEditor, pageErrors, startEditorServer } from './helpers';

const run = promisify(execFile);
const BIN = resolve(__dirname, '../../bin/fluxgraph.mjs');

let server: Awaited<ReturnType<typeof startEditorServer>>;
let browser: BrowserContext;

beforeAll(async () => {
  [server, browser] = await Promise.all([startEditorServer(), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function addBySearch(page: Page, query: string): Promise<void> {
  const search = page.getByRole('searchbox', { name: 'Search nodes' });
  await search.fill(query);
  await search.press('Enter');
}

const nodeCount = (page: Page) => page.locator('.react-flow__node').count();

describe('building a pipeline by hand', () => {
  it('builds one from an empty canvas, refuses an incompatible connection, saves it, and the CLI runs the saved file', async () => {
    const page = await openEditor(browser, server.url);
    await page.getByText('Drag a node from the palette').waitFor();

    // Add: by search, by drag from the palette, by click.
    await addBySearch(page, 'prompt');
    await node(page, 'prompt-1').waitFor();
    await page
      .locator('.fg-palette-item[data-node-type="flux-flex-generate"]')
      .dragTo(page.locator('.react-flow__pane'), { targetPosition: { x: 560, y: 160 } });
    await node(page, 'flex-generate-1').waitFor();
    await page.locator('.fg-palette-item[data-node-type="save-image"]').click();
    await node(page, 'save-image-1').waitFor();
    await page.getByRole('button', { name: 'Layout', exact: true }).click();

    // Live validation from the engine: the generate node misses its prompt.
    await node(page, 'flex-generate-1').getByText(/required input "prompt"/).waitFor();

    // An image input refuses a text output, and says why.
    await connect(page, handle(page, 'prompt-1', 'text', 'source'), handle(page, 'save-image-1', 'images', 'target'));
    await page.getByRole('alert').filter({ hasText: 'Connection refused: port kinds must match' }).waitFor();
    expect(await page.locator('.react-flow__edge').count()).toBe(0);

    await connect(page, handle(page, 'prompt-1', 'text', 'source'), handle(page, 'flex-generate-1', 'prompt', 'target'));
    await connect(page, handle(page, 'flex-generate-1', 'images', 'source'), handle(page, 'save-image-1', 'images', 'target'));
    await expect.poll(() => page.locator('.react-flow__edge').count()).toBe(2);
    await node(page, 'flex-generate-1').getByText(/required input "prompt"/).waitFor({ state: 'detached' });

    // Params through the generated forms; a value out of range is shown on its field.
    await node(page, 'prompt-1').locator('.fg-node-header').click();
    await page.getByLabel('Text', { exact: true }).fill('a paper boat on a pond');
    await node(page, 'flex-generate-1').locator('.fg-node-header').click();
    const steps = page.getByLabel('Steps', { exact: true });
    await steps.fill('80');
    await page.locator('.fg-field[data-param="steps"] .fg-field-error').filter({ hasText: 'must be between 1 and 50' }).waitFor();
    await steps.fill('4');
    await page.locator('.fg-field[data-param="steps"] .fg-field-error').waitFor({ state: 'detached' });
    await page.getByLabel('Count', { exact: true }).fill('2');
    await page.getByLabel('Width', { exact: true }).fill('256');
    await page.getByLabel('Height', { exact: true }).fill('256');
    await page.getByLabel('Seed', { exact: true }).fill('5');

    // Pipeline settings, once nothing is selected.
    await page.locator('.react-flow__pane').click({ position: { x: 10, y: 10 } });
    await page.getByLabel('Name', { exact: true }).fill('paper-boats');
    await page.getByText(/· no errors/).waitFor();

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download', exact: true }).click()]);
    expect(download.suggestedFilename()).toBe('paper-boats.json');
    const dir = tempDir('fluxgraph-saved-');
    const file = join(dir, 'paper-boats.json');
    await download.saveAs(file);

    const saved = JSON.parse(readFileSync(file, 'utf8')) as Pipeline;
    expect(saved.name).toBe('paper-boats');
    expect(saved.nodes.map((n) => [n.id, n.type, n.params])).toEqual([
      ['prompt-1', 'prompt', { text: 'a paper boat on a pond' }],
      ['flex-generate-1', 'flux-flex-generate', { width: 256, height: 256, steps: 4, seed: 5, count: 2 }],
      ['save-image-1', 'save-image', {}],
    ]);
    expect(saved.edges).toEqual([
      { source: 'prompt-1', sourceHandle: 'text', target: 'flex-generate-1', targetHandle: 'prompt' },
      { source: 'flex-generate-1', sourceHandle: 'images', target: 'save-image-1', targetHandle: 'images' },
    ]);
    for (const n of saved.nodes) expect(Object.keys(n)).toEqual(['id', 'type', 'params', 'position']);

    // The CLI runs the saved file unchanged.
    const out = join(dir, 'out');
    const result = await run(process.execPath, [BIN, 'run', file, '--out', out, '--json', '--cache-dir', join(dir, '.fluxgraph')], {
      cwd: dir,
      env: { ...process.env, FLUXGRAPH_EMULATOR: 'always' },
    });
    const done = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { type: string; summary: { status: string; imagesWritten: string[] } };
    expect(done.type).toBe('runDone');
    expect(done.summary.status).toBe('done');
    expect(done.summary.imagesWritten).toHaveLength(2);
    const runDir = readdirSync(out)[0];
    expect(readdirSync(join(out, runDir)).filter((f) => f.endsWith('.jpg'))).toHaveLength(2);
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });

  it('undoes, redoes, copies, pastes, duplicates and deletes with the keyboard, and autosaves', async () => {
    const page = await openEditor(browser, server.url);
    await addBySearch(page, 'prompt');
    await node(page, 'prompt-1').waitFor();
    await page.getByLabel('Text', { exact: true }).fill('a lighthouse');
    await page.locator('.react-flow__pane').click({ position: { x: 20, y: 20 } });

    await page.keyboard.press('Control+z');
    await node(page, 'prompt-1').locator('.fg-node-text').waitFor({ state: 'detached' });
    await page.keyboard.press('Control+z');
    await expect.poll(() => nodeCount(page)).toBe(0);
    await page.keyboard.press('Control+Shift+z');
    await page.keyboard.press('Control+Shift+z');
    await node(page, 'prompt-1').getByText('a lighthouse').waitFor();

    await node(page, 'prompt-1').locator('.fg-node-header').click();
    await page.keyboard.press('Control+c');
    await page.keyboard.press('Control+v');
    await node(page, 'prompt-2').getByText('a lighthouse').waitFor();
    await page.keyboard.press('Control+d');
    await node(page, 'prompt-3').waitFor();
    await page.keyboard.press('Delete');
    await expect.poll(() => nodeCount(page)).toBe(2);

    // Autosave: a reload brings the canvas back.
    await expect.poll(() => page.evaluate(() => localStorage.getItem('fluxgraph.editor.autosave.v1')?.includes('prompt-2') ?? false)).toBe(true);
    await page.reload();
    await node(page, 'prompt-2').getByText('a lighthouse').waitFor();
    expect(await nodeCount(page)).toBe(2);

    // The shortcuts are listed in a help panel.
    await page.keyboard.press('?');
    const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await help.getByText('Ctrl+Shift+Z').waitFor();
    await page.keyboard.press('Escape');
    await help.waitFor({ state: 'detached' });
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });

  it('shows the engine’s param errors on the field and the node, and refuses to run until they are fixed', async () => {
    const page = await openEditor(browser, server.url);
    const text = JSON.stringify({
      version: 1,
      nodes: [
        { id: 'idea', type: 'prompt', params: { text: 'x' }, position: { x: 0, y: 0 } },
        { id: 'drafts', type: 'flux-flex-generate', params: { width: 4096, height: 4096 }, position: { x: 320, y: 0 } },
      ],
      edges: [{ source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' }],
    });
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.getByRole('button', { name: 'From this computer…' }).click()]);
    await chooser.setFiles({ name: 'too-big.json', mimeType: 'application/json', buffer: Buffer.from(text) });
    // The 4-megapixel rule lives in the node's zod schema: only the engine's validator knows it.
    await node(page, 'drafts').locator('.fg-node-invalid').waitFor();
    await node(page, 'drafts').getByText(/4 megapixels/).waitFor();
    await node(page, 'drafts').locator('.fg-node-header').click();
    await page.locator('.fg-field[data-param="width"] .fg-field-error').filter({ hasText: /4 megapixels/ }).waitFor();

    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: /cannot run: 1 problem/ }).waitFor();
    await page.getByLabel('Width', { exact: true }).fill('1024');
    await page.locator('.fg-field[data-param="width"] .fg-field-error').waitFor({ state: 'detached' });
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });
});
