/**
 * Browser tests: Debian's Chromium driven by playwright-core, against a real server (built
 * editor, embedded emulator) started in the test on a free port.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { startServer, type RunningServer } from '../../engine/server/server';
import { tempDir } from '../helpers/tmp';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A browser with a fresh profile (user-data-dir) of its own. */
export async function launchBrowser(): Promise<BrowserContext> {
  return chromium.launchPersistentContext(tempDir('fluxgraph-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 900 },
    acceptDownloads: true,
  });
}

export async function startEditorServer(options: { cwd?: string; open?: string; baseDir?: string } = {}): Promise<RunningServer & { cwd: string }> {
  const cwd = options.cwd ?? tempDir('fluxgraph-e2e-');
  const server = await startServer({
    cwd,
    port: 0,
    editor: 'build',
    env: { FLUXGRAPH_EMULATOR: 'always' },
    ...(options.open ? { open: options.open } : {}),
    ...(options.baseDir ? { baseDir: options.baseDir } : {}),
  });
  return Object.assign(server, { cwd });
}

const errors = new WeakMap<Page, string[]>();

/** Uncaught errors of the page's scripts (a test expects none). */
export function pageErrors(page: Page): string[] {
  return errors.get(page) ?? [];
}

/** A new tab on the editor with an empty canvas (no autosave from an earlier test). */
export async function openEditor(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  const list: string[] = [];
  errors.set(page, list);
  page.on('pageerror', (e) => list.push(e.message));
  // Cleared from a page of the same origin that runs no editor code, so no autosave timer of a
  // restored document can write it back between the clear and the load.
  await page.goto(`${url}/api/info`);
  await page.evaluate(() => localStorage.clear());
  await page.goto(url);
  await page.locator('.react-flow').waitFor();
  return page;
}

export function node(page: Page, id: string): Locator {
  return page.locator(`.react-flow__node[data-id="${id}"]`);
}

export function handle(page: Page, nodeId: string, port: string, type: 'source' | 'target'): Locator {
  return node(page, nodeId).locator(`.react-flow__handle.${type}[data-handleid="${port}"]`);
}

/** Draws a connection with the mouse, the way a user does. */
export async function connect(page: Page, from: Locator, to: Locator): Promise<void> {
  const a = await from.boundingBox();
  const b = await to.boundingBox();
  if (!a || !b) throw new Error('handle not visible');
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 5 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 5 });
  await page.mouse.up();
}

/** Open → "From this computer…" → the browser's file chooser. */
export async function openFileWithButton(page: Page, path: string): Promise<void> {
  await page.getByRole('button', { name: 'Open', exact: true }).click();
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.getByRole('button', { name: 'From this computer…' }).click()]);
  await chooser.setFiles(path);
}

/** Drops a JSON file on the canvas, as dragging it from a file manager does. */
export async function dropFileOnCanvas(page: Page, name: string, text: string): Promise<void> {
  const transfer = await page.evaluateHandle(
    ([fileName, content]) => {
      const dt = new DataTransfer();
      dt.items.add(new File([content], fileName, { type: 'application/json' }));
      return dt;
    },
    [name, text] as const,
  );
  await page.locator('.fg-canvas').dispatchEvent('drop', { dataTransfer: transfer });
}

/** Drops a binary file (an image) on the canvas, as dragging it from a file manager does. */
export async function dropBytesOnCanvas(page: Page, name: string, type: string, bytes: Buffer): Promise<void> {
  const transfer = await page.evaluateHandle(
    ([fileName, mime, base64]) => {
      const data = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([data], fileName, { type: mime }));
      return dt;
    },
    [name, type, bytes.toString('base64')] as const,
  );
  await page.locator('.fg-canvas').dispatchEvent('drop', { dataTransfer: transfer });
}

/** With FLUXGRAPH_SCREENSHOTS=dir, saves a screenshot there to look at (not part of the assertions). */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.FLUXGRAPH_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, name) });
}
