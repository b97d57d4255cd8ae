/**
 * Makes docs/editor.png, the README's screenshot, at 1440×900: the draft-then-refine example
 * after a finished run on the embedded emulator (cost per node, the next run's estimate at $0
 * next to Run, the gallery open), the drafts node selected. Saved as a palette PNG (sharp) to
 * keep the repository small. Run: `npx tsx test/e2e/screenshot.ts`.
 */
import { mkdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { launchBrowser, node, openEditor, openFileWithButton, startEditorServer } from './helpers';

const here = fileURLToPath(new URL('.', import.meta.url));
const OUT = resolve(here, '../../docs/editor.png');

const server = await startEditorServer();
const context = await launchBrowser();
try {
  const page = await openEditor(context, server.url);
  await openFileWithButton(page, resolve(here, '../../examples/draft-then-refine.json'));
  // Laid out by the editor: the prompt's edge to the refine goes around the nodes between.
  await page.getByRole('button', { name: 'Layout', exact: true }).click();
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
  // At 1440×900 the graph is wider than the canvas at a readable zoom: show the drafts, the pick
  // and the refine (the pick in the middle), the prompt's edge coming in from the left.
  const pane = (await page.locator('.react-flow__pane').boundingBox())!;
  const pick = (await node(page, 'pick').boundingBox())!;
  const dx = pane.x + pane.width / 2 - (pick.x + pick.width / 2);
  await page.mouse.move(pane.x + pane.width / 2, pane.y + 60);
  await page.mouse.down();
  await page.mouse.move(pane.x + pane.width / 2 + dx, pane.y + 60, { steps: 10 });
  await page.mouse.up();
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
  const png = await page.screenshot();
  await sharp(png).png({ palette: true, quality: 90, compressionLevel: 9, effort: 10 }).toFile(OUT);
  console.log(`wrote ${OUT} (${Math.round(statSync(OUT).size / 1024)} KB)`);
} finally {
  await context.close();
  await server.close();
}
