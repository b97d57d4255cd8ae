/**
 * The editor as people use it: one source of truth for params, readable at any window size,
 * search by match quality, templates on an empty canvas, nodes placed in free space, and
 * layouts in which no node covers another and no edge runs through a node.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bigPipeline } from '../../bench/editor-open';
import type { TemplatesResponse } from '../../editor/api/types';
import type { Pipeline } from '../../engine/core/pipeline-schema';
import { layoutProblems, smallestNodeTextPx, viewportSettled } from './geometry';
import { dropFileOnCanvas, handle, launchBrowser, node, openEditor, pageErrors, screenshot, startEditorServer } from './helpers';

let server: Awaited<ReturnType<typeof startEditorServer>>;
let browser: BrowserContext;

beforeAll(async () => {
  [server, browser] = await Promise.all([startEditorServer(), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function openTemplate(page: Page, name: string, nodes: number): Promise<void> {
  await page.getByTestId('empty-canvas').locator(`button[data-template="${name}"]`).click();
  await expect.poll(() => page.locator('.react-flow__node').count()).toBe(nodes);
}

const field = (page: Page, param: string) => page.locator(`.fg-field[data-param="${param}"]`);

describe('one source of truth', () => {
  it('a rejected value is an error on the field and the node, Run is refused until it is fixed, undo brings it back', async () => {
    const page = await openEditor(browser, server.url);
    await openTemplate(page, 'draft-then-refine', 6);
    await page.getByText('no errors').waitFor();
    await page.locator('[data-testid="estimate"][data-state="ready"]').waitFor();
    await node(page, 'drafts').locator('.fg-node-header').click();
    const steps = field(page, 'steps').locator('input');
    await steps.fill('80');

    // The field, the node and the validator agree: the document holds 80.
    await field(page, 'steps').locator('.fg-field-error').filter({ hasText: 'between 1 and 50' }).waitFor();
    await node(page, 'drafts').locator('.fg-node-invalid').waitFor();
    await node(page, 'drafts').locator('.fg-chip').filter({ hasText: 'steps 80' }).waitFor();
    // The estimate stays, partial, saying why.
    await page.locator('[data-testid="estimate"][data-partial="true"]').filter({ hasText: /partial: 5 nodes with errors/ }).waitFor();
    await screenshot(page, 'steps-80.png');

    await page.getByRole('button', { name: 'Run', exact: true }).click();
    const refused = page.getByTestId('notice').filter({ hasText: 'cannot run: 1 problem to fix' });
    await refused.waitFor();
    expect(await page.locator('[data-run-status="running"]').count()).toBe(0);

    // Fixed: the error goes, and so does the toast about it.
    await steps.fill('6');
    await node(page, 'drafts').locator('.fg-node-invalid').waitFor({ state: 'detached' });
    await refused.waitFor({ state: 'detached' });
    await page.locator('[data-testid="estimate"][data-state="ready"]:not([data-partial])').waitFor();

    // Undo covers inspector edits: back to 80, on the field and the node.
    await page.locator('.react-flow__pane').click({ position: { x: 5, y: 5 } });
    await node(page, 'drafts').locator('.fg-node-header').click();
    await page.getByRole('button', { name: 'Undo', exact: true }).click();
    await expect.poll(() => steps.inputValue()).toBe('80');
    await node(page, 'drafts').locator('.fg-node-invalid').waitFor();
    await page.getByRole('button', { name: 'Redo', exact: true }).click();
    await expect.poll(() => steps.inputValue()).toBe('6');
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });
});

describe('readable at any window size', () => {
  it('fit view keeps node text at 11 px or more; the minimap covers no node and can be hidden; an empty gallery is collapsed', async () => {
    const page = await openEditor(browser, server.url);
    const gallery = page.getByRole('region', { name: 'Gallery' });
    expect((await gallery.boundingBox())!.height).toBeLessThan(60);
    await openTemplate(page, 'draft-then-refine', 6);
    for (const size of [
      { width: 1440, height: 900 },
      { width: 1024, height: 700 },
      { width: 1920, height: 1080 },
    ]) {
      await page.setViewportSize(size);
      await page.getByRole('button', { name: 'Fit', exact: true }).click();
      // Once the fit's animation is over.
      await expect.poll(async () => (await smallestNodeTextPx(page)).px, { message: `${size.width}×${size.height}` }).toBeGreaterThanOrEqual(11);
    }
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.getByRole('button', { name: 'Fit', exact: true }).click();
    await viewportSettled(page);
    await screenshot(page, 'fit-1440.png');

    const minimap = page.getByTestId('minimap');
    const mapBox = (await minimap.boundingBox())!;
    const canvasBox = (await page.locator('.fg-canvas').boundingBox())!;
    const apart = mapBox.x >= canvasBox.x + canvasBox.width || mapBox.y >= canvasBox.y + canvasBox.height || mapBox.x + mapBox.width <= canvasBox.x;
    expect(apart).toBe(true);
    await page.getByRole('button', { name: 'Hide minimap' }).click();
    await minimap.waitFor({ state: 'detached' });
    await page.reload();
    await page.locator('.react-flow__node').first().waitFor();
    expect(await page.getByTestId('minimap').count()).toBe(0);
    await page.getByRole('button', { name: 'Show minimap' }).click();
    await minimap.waitFor();
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });
});

describe('finding and placing nodes', () => {
  it('search ranks by match quality, and palette nodes land in free space near the centre of the view', async () => {
    const page = await openEditor(browser, server.url);
    const search = page.getByRole('searchbox', { name: 'Search nodes' });
    await search.fill('pro');
    const titles = await page.locator('.fg-palette-item .fg-palette-title').allTextContents();
    expect(titles[0]).toBe('FLUX.2 [pro] generate');
    expect(titles.indexOf('Prompt')).toBeGreaterThan(0);
    await search.press('Enter');
    await page.locator('.react-flow__node[data-id="pro-generate-1"]').waitFor();

    for (let i = 0; i < 6; i++) await page.locator('.fg-palette-item[data-node-type="prompt"]').click();
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(7);
    await page.waitForFunction(() => [...document.querySelectorAll('.react-flow__node')].every((n) => (n as HTMLElement).style.visibility !== 'hidden'));
    const problems = await layoutProblems(page);
    expect(problems.overlaps).toEqual([]);
    // Near the centre: every new node at least partly in view.
    const canvas = (await page.locator('.fg-canvas').boundingBox())!;
    for (const box of await page.locator('.react-flow__node').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().toJSON() as DOMRect))) {
      expect(box.x + box.width).toBeGreaterThan(canvas.x);
      expect(box.x).toBeLessThan(canvas.x + canvas.width);
    }
    await screenshot(page, 'placed.png');
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });

  it('after auto-layout of each example and of a 50-node graph, no node covers another and no edge runs through a node', async () => {
    const page = await openEditor(browser, server.url);
    // Every example the editor offers as a template, and a generated graph with long edges.
    const { templates } = (await (await fetch(`${server.url}/api/templates`)).json()) as TemplatesResponse;
    expect(templates.map((t) => t.name)).toEqual(expect.arrayContaining(['draft-then-refine', 'reference-edit']));
    const docs: [string, (p: Page) => Promise<void>][] = [
      ...templates.map((t): [string, (p: Page) => Promise<void>] => [t.name, (p) => openTemplate(p, t.name, t.nodes)]),
      ['50 nodes', (p) => dropFileOnCanvas(p, 'fifty.json', JSON.stringify(fiftyNodes()))],
    ];
    for (const [name, open] of docs) {
      await page.goto(`${server.url}/api/info`);
      await page.evaluate(() => localStorage.clear());
      await page.goto(server.url);
      await page.getByTestId('empty-canvas').waitFor();
      await open(page);
      await expect.poll(() => page.locator('.react-flow__node').count()).toBeGreaterThan(1);
      await page.getByRole('button', { name: 'Layout', exact: true }).click();
      await viewportSettled(page);
      const problems = await layoutProblems(page);
      expect(problems.edges, name).toBeGreaterThan(0);
      expect(problems.overlaps, name).toEqual([]);
      expect(problems.crossings, name).toEqual([]);
      await screenshot(page, `layout-${name.replace(/\s+/g, '-')}.png`);
    }
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });

  it('a run that adds thumbnails pushes the nodes below out from under the grown ones', async () => {
    const page = await openEditor(browser, server.url);
    // The draft node right above the refine chain: its thumbnails make it taller.
    const doc = bigPipeline(2);
    doc.nodes.forEach((n, i) => (n.position = { x: (i % 5) * 300, y: Math.floor(i / 5) * 170 }));
    await dropFileOnCanvas(page, 'two-chains.json', JSON.stringify(doc));
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(10);
    expect((await layoutProblems(page)).overlaps).toEqual([]);
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.locator('[data-run-status="done"], [data-run-status="partial"]').waitFor();
    await expect.poll(() => node(page, 'drafts-0').locator('.fg-thumb img').count()).toBe(4);
    await expect.poll(async () => (await layoutProblems(page)).overlaps).toEqual([]);
    await screenshot(page, 'after-run-thumbnails.png');
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });
});

describe('dragging a connection onto empty canvas', () => {
  it('opens a menu of the node types that can connect there, and connects the one picked', async () => {
    const page = await openEditor(browser, server.url);
    await page.locator('.fg-palette-item[data-node-type="prompt"]').click();
    await node(page, 'prompt-1').waitFor();
    const from = (await handle(page, 'prompt-1', 'text', 'source').boundingBox())!;
    await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
    await page.mouse.down();
    await page.mouse.move(from.x + 200, from.y + 120, { steps: 8 });
    await page.mouse.move(from.x + 260, from.y + 160, { steps: 4 });
    await page.mouse.up();
    const menu = page.getByTestId('connect-menu');
    await menu.waitFor();
    // A text output: the generate and refine nodes (prompt inputs), not an image-only node.
    const offered = await menu.locator('button[role="menuitem"]').evaluateAll((bs) => bs.map((b) => (b as HTMLElement).dataset.nodeType));
    expect(offered.sort()).toEqual(['flux-flex-generate', 'flux-max-refine', 'flux-pro-generate']);
    await screenshot(page, 'connect-menu.png');
    await menu.locator('button[data-node-type="flux-flex-generate"]').click();
    await node(page, 'flex-generate-1').waitFor();
    await expect.poll(() => page.locator('.react-flow__edge').count()).toBe(1);
    await page.locator('.react-flow__edge path[data-source="prompt-1"][data-target="flex-generate-1"]').waitFor({ state: 'attached' });
    expect((await layoutProblems(page)).overlaps).toEqual([]);

    // From an input: what can feed it.
    const input = (await handle(page, 'flex-generate-1', 'references', 'target').boundingBox())!;
    await page.mouse.move(input.x + input.width / 2, input.y + input.height / 2);
    await page.mouse.down();
    await page.mouse.move(input.x - 150, input.y + 160, { steps: 8 });
    await page.mouse.move(input.x - 200, input.y + 200, { steps: 4 });
    await page.mouse.up();
    await menu.locator('button[data-node-type="reference-image"]').click();
    await expect.poll(() => page.locator('.react-flow__edge').count()).toBe(2);
    await page.locator('.react-flow__edge path[data-source="reference-image-1"][data-target="flex-generate-1"]').waitFor({ state: 'attached' });
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });
});

/** Ten draft-then-refine chains whose refine nodes also take the first chain's prompt: long edges. */
function fiftyNodes(): Pipeline {
  const doc = bigPipeline(10);
  doc.nodes.forEach((n) => delete n.position);
  doc.edges.push({ source: 'idea-0', sourceHandle: 'text', target: 'refine-5', targetHandle: 'prompt' });
  doc.edges = doc.edges.filter((e) => !(e.target === 'refine-5' && e.source === 'idea-5'));
  return doc;
}
