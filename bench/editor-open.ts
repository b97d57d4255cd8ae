/**
 * Editor benchmark: how long a 500-node pipeline takes to open in the editor (drop of the file →
 * every node on the canvas, measured and visible), and how smoothly it pans afterwards. Real
 * server, built editor, Debian's Chromium (headless, software rendering), timed inside the page
 * with performance.now() so the browser driver's latency is not counted.
 *
 * Run alone: `npx tsx bench/editor-open.ts [nodes]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Pipeline } from '../engine/core/pipeline-schema';
import { startServer } from '../engine/server/server';

export interface EditorOpenResult {
  /** Median over the repeats: drop of the file → all nodes measured and visible. */
  openMedianMs: number;
  openRunsMs: number[];
  nodes: number;
  edges: number;
  /** Frames seen while the canvas was dragged for about a second. */
  panFrames: number;
  panMeanFps: number;
  panP95FrameMs: number;
  browser: string;
}

/** `chains` copies of prompt → generate → pick → refine → save (5 nodes, 5 edges each). */
export function bigPipeline(chains: number): Pipeline {
  const nodes: Pipeline['nodes'] = [];
  const edges: Pipeline['edges'] = [];
  for (let c = 0; c < chains; c++) {
    const id = (s: string) => `${s}-${c}`;
    const y = c * 190;
    nodes.push(
      { id: id('idea'), type: 'prompt', params: { text: `subject ${c}, morning light` }, position: { x: 0, y } },
      { id: id('drafts'), type: 'flux-flex-generate', params: { count: 4, steps: 6 }, position: { x: 320, y } },
      { id: id('pick'), type: 'pick-images', params: { indices: [0] }, position: { x: 640, y } },
      { id: id('refine'), type: 'flux-max-refine', params: {}, position: { x: 960, y } },
      { id: id('save'), type: 'save-image', params: {}, position: { x: 1280, y } },
    );
    edges.push(
      { source: id('idea'), sourceHandle: 'text', target: id('drafts'), targetHandle: 'prompt' },
      { source: id('drafts'), sourceHandle: 'images', target: id('pick'), targetHandle: 'images' },
      { source: id('pick'), sourceHandle: 'images', target: id('refine'), targetHandle: 'images' },
      { source: id('idea'), sourceHandle: 'text', target: id('refine'), targetHandle: 'prompt' },
      { source: id('refine'), sourceHandle: 'images', target: id('save'), targetHandle: 'images' },
    );
  }
  return { version: 1, name: `big-${chains * 5}`, nodes, edges };
}

/** Drops a file on the canvas; resolves with the ms until `n` nodes are measured, visible and painted. */
const OPEN_IN_PAGE = `(json, n) => new Promise((resolve) => {
  const canvas = document.querySelector('.fg-canvas');
  const dt = new DataTransfer();
  dt.items.add(new File([json], 'big.json', { type: 'application/json' }));
  const t0 = performance.now();
  canvas.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  const check = () => {
    const els = document.querySelectorAll('.react-flow__node');
    if (els.length === n && [...els].every((el) => el.style.visibility !== 'hidden')) {
      requestAnimationFrame(() => resolve(performance.now() - t0));
    } else requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})`;

const RECORD_FRAMES_IN_PAGE = `(() => {
  window.__frames = [];
  window.__stop = false;
  const tick = (t) => {
    window.__frames.push(t);
    if (!window.__stop) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})()`;

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function measureEditorOpen(options: { nodes?: number; repeats?: number; log?: (line: string) => void } = {}): Promise<EditorOpenResult> {
  const chains = Math.max(1, Math.round((options.nodes ?? 500) / 5));
  const repeats = options.repeats ?? 5;
  const doc = bigPipeline(chains);
  const text = JSON.stringify(doc);
  const log = options.log ?? (() => undefined);
  const cwd = mkdtempSync(join(tmpdir(), 'fluxgraph-bench-editor-'));
  const server = await startServer({ cwd, port: 0, editor: 'build', env: { FLUXGRAPH_EMULATOR: 'always' }, log });
  const profile = mkdtempSync(join(tmpdir(), 'fluxgraph-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 900 },
  });
  try {
    const page = await context.newPage();
    await page.goto(server.url);
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await page.locator('.react-flow').waitFor();

    // Page code is passed as text: tsx's helpers (e.g. __name) do not exist inside the page.
    const openTimed = (content: string, count: number) => page.evaluate<number>(`(${OPEN_IN_PAGE})(${JSON.stringify(content)}, ${count})`);
    const empty = JSON.stringify({ version: 1, nodes: [{ id: 'x', type: 'prompt', params: { text: 'x' }, position: { x: 0, y: 0 } }], edges: [] });

    const runs: number[] = [];
    for (let i = 0; i < repeats; i++) {
      await openTimed(empty, 1);
      const ms = await openTimed(text, doc.nodes.length);
      runs.push(Math.round(ms));
      log(`editor open ${i + 1}/${repeats}: ${Math.round(ms)} ms`);
    }

    // Pan for about a second while the page records its frame times.
    await page.evaluate(RECORD_FRAMES_IN_PAGE);
    const box = (await page.locator('.react-flow__pane').boundingBox())!;
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    await page.mouse.move(cx, cy);
    await page.mouse.down();
    for (let i = 1; i <= 60; i++) {
      await page.mouse.move(cx - i * 6, cy - i * 4);
    }
    await page.mouse.up();
    const frames = await page.evaluate<number[]>('window.__stop = true, window.__frames');
    const deltas = frames.slice(1).map((t, i) => t - frames[i]).sort((a, b) => a - b);
    const span = frames.length > 1 ? frames[frames.length - 1] - frames[0] : 0;
    const sorted = [...runs].sort((a, b) => a - b);
    return {
      openMedianMs: sorted[Math.floor(sorted.length / 2)],
      openRunsMs: runs,
      nodes: doc.nodes.length,
      edges: doc.edges.length,
      panFrames: frames.length,
      panMeanFps: span > 0 ? Math.round(((frames.length - 1) / span) * 1000) : 0,
      panP95FrameMs: deltas.length ? Math.round(deltas[Math.floor(deltas.length * 0.95)] * 10) / 10 : 0,
      browser: `Chromium ${context.browser()?.version() ?? ''} headless, --disable-gpu`.trim(),
    };
  } finally {
    await context.close();
    await server.close();
    for (const dir of [cwd, profile]) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const nodes = Number(process.argv[2] ?? 500);
  measureEditorOpen({ nodes, log: (l) => console.error(l) })
    .then((r) => {
      console.log(JSON.stringify(r, null, 2));
      process.exit(0);
    })
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}

export default measureEditorOpen;
