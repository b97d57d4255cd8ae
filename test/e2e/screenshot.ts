/**
 * Makes docs/editor.png, the README's screenshot: the draft-then-refine example after a finished
 * run on the embedded emulator (cost per node, the next run's estimate at $0 next to Run), the
 * drafts node selected. Run: `npx tsx test/e2e/screenshot.ts`.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, node, openEditor, openFileWithButton, startEditorServer } from './helpers';

const here = fileURLToPath(new URL('.', import.meta.url));
const OUT = resolve(here, '../../docs/editor.png');

const server = await startEditorServer();
const context = await launchBrowser();
try {
  const page = await openEditor(context, server.url);
  await page.setViewportSize({ width: 1920, height: 1080 });
  await openFileWithButton(page, resolve(here, '../../examples/draft-then-refine.json'));
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.locator('[data-run-status="done"]').waitFor();
  // The next run's estimate, refreshed after this one: everything now comes from the cache.
  await page.locator('[data-testid="estimate"][data-state="ready"][data-calls="0"]').waitFor();
  await node(page, 'drafts').locator('.fg-node-header').click();
  await page.getByRole('button', { name: 'Fit', exact: true }).click();
  // Every thumbnail loaded and the fit animation over before the picture is taken.
  await page.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
  await page.waitForFunction(
    () =>
      new Promise((done) => {
        const el = document.querySelector('.react-flow__viewport') as HTMLElement;
        const before = el.style.transform;
        setTimeout(() => done(el.style.transform === before), 300);
      }),
  );
  await page.getByRole('status').filter({ hasText: 'opened' }).waitFor({ state: 'detached' }).catch(() => undefined);
  mkdirSync(resolve(OUT, '..'), { recursive: true });
  await page.screenshot({ path: OUT });
  console.log(`wrote ${OUT}`);
} finally {
  await context.close();
  await server.close();
}
