/**
 * Where the editor spends its time opening and panning a big pipeline: a CPU profile of the page
 * (Chrome DevTools protocol), self time per function mapped back to the sources through the
 * build's source maps, and the trace's main-thread categories (script, style, layout, paint).
 * A tool for finding what to fix, not a benchmark: `npx tsx bench/editor-profile.ts [nodes] [open|pan]`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { SourceMapConsumer } from 'source-map-js';
import { startServer } from '../engine/server/server';
import { bigPipeline, OPEN_IN_PAGE, PAN_IN_PAGE } from './editor-open';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

const nodes = Number(process.argv[2] ?? 2000);
const what = process.argv[3] ?? 'open';
const cwd = mkdtempSync(join(tmpdir(), 'fluxgraph-profile-'));
const server = await startServer({ cwd, port: 0, editor: 'build', env: { FLUXGRAPH_EMULATOR: 'always' } });
const profileDir = mkdtempSync(join(tmpdir(), 'fluxgraph-profile-chromium-'));
const context = await chromium.launchPersistentContext(profileDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1440, height: 900 },
});
try {
  const page = await context.newPage();
  await page.goto(`${server.url}/api/info`);
  await page.evaluate(() => localStorage.clear());
  await page.goto(server.url);
  await page.locator('.react-flow').waitFor();
  const doc = bigPipeline(Math.round(nodes / 5));
  const text = JSON.stringify(doc);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  const drop = `(() => { const dt = new DataTransfer(); dt.items.add(new File([${JSON.stringify(text)}], 'big.json', { type: 'application/json' }));
    document.querySelector('.fg-canvas').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true })); })()`;
  // Opens first, untimed, so the page's code is compiled as it is after a few uses (WARM=n).
  const one = JSON.stringify({ version: 1, nodes: [{ id: 'x', type: 'prompt', params: { text: 'x' }, position: { x: 0, y: 0 } }], edges: [] });
  for (let i = 0; i < Number(process.env.WARM ?? 0); i++) {
    await page.evaluate(`(${OPEN_IN_PAGE})(${JSON.stringify(text)}, ${doc.nodes.length})`);
    await page.evaluate(`(${OPEN_IN_PAGE})(${JSON.stringify(one)}, 1)`);
    await page.waitForTimeout(1000);
  }
  if (what === 'pan') {
    await page.evaluate(drop);
    await page.waitForTimeout(4000);
  }
  const tracing = process.env.TRACE === '1';
  const traceEvents: { name: string; ph: string; dur?: number; tid: number; pid: number; cat: string }[] = [];
  if (tracing) {
    (cdp as unknown as { on(event: string, fn: (e: { value: typeof traceEvents }) => void): void }).on('Tracing.dataCollected', (e) => void traceEvents.push(...e.value));
    await cdp.send('Tracing.start', { categories: 'devtools.timeline,disabled-by-default-devtools.timeline,cc,viz,blink', transferMode: 'ReportEvents' });
  }
  await cdp.send('Profiler.start');
  const t0 = Date.now();
  if (what === 'open') {
    console.log(JSON.stringify(await page.evaluate(`(${OPEN_IN_PAGE})(${JSON.stringify(text)}, ${doc.nodes.length})`)));
  } else {
    await page.evaluate(`(${PAN_IN_PAGE})(120, ${Number(process.env.FLUXGRAPH_BENCH_PAN_DIR ?? 1)})`);
  }
  if (tracing) {
    const done = new Promise((r) => (cdp as unknown as { once(event: string, fn: () => void): void }).once('Tracing.tracingComplete', () => r(undefined)));
    await cdp.send('Tracing.end');
    await done;
    const byName = new Map<string, number>();
    for (const e of traceEvents) if (e.ph === 'X' && e.dur) byName.set(`${e.name} [${e.cat.split(',')[0]}] tid ${e.tid}`, (byName.get(`${e.name} [${e.cat.split(',')[0]}] tid ${e.tid}`) ?? 0) + e.dur);
    if (process.env.TIMELINE === '1') {
      // The main thread's tasks in order: start (ms from the first), duration, and what took most of each.
      const all = traceEvents as unknown as { name: string; ph: string; ts: number; dur?: number; tid: number; pid: number; args?: { data?: { functionName?: string; url?: string } } }[];
      const tasks = all.filter((e) => e.name === 'RunTask' && e.ph === 'X' && (e.dur ?? 0) > 2000);
      const busiest = new Map<number, number>();
      for (const t of tasks) busiest.set(t.tid, (busiest.get(t.tid) ?? 0) + (t.dur ?? 0));
      const main = [...busiest].sort((a, b) => b[1] - a[1])[0]?.[0];
      const mine = tasks.filter((t) => t.tid === main).sort((a, b) => a.ts - b.ts);
      const t0 = mine[0]?.ts ?? 0;
      for (const t of mine) {
        const inner = all.filter((e) => e.tid === main && e.ph === 'X' && e.ts >= t.ts && e.ts + (e.dur ?? 0) <= t.ts + (t.dur ?? 0) && e !== t && ['FunctionCall', 'Layout', 'UpdateLayoutTree', 'Paint', 'Layerize', 'MajorGC', 'MinorGC', 'FireAnimationFrame', 'EvaluateScript', 'ParseHTML', 'TimerFire', 'EventDispatch', 'v8.callFunction', 'PrePaint', 'Commit', 'ResizeObserver', 'LocalFrameView::NotifyResizeObservers'].includes(e.name));
        const what = new Map<string, number>();
        for (const e of inner) what.set(e.name, (what.get(e.name) ?? 0) + (e.dur ?? 0));
        console.log(`${((t.ts - t0) / 1000).toFixed(0).padStart(6)} ms  ${((t.dur ?? 0) / 1000).toFixed(1).padStart(6)} ms  ${[...what].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([n, d]) => `${n} ${(d / 1000).toFixed(1)}`).join(', ')}`);
      }
    }
    const count = (name: string) => traceEvents.filter((e) => e.name === name && e.ph === 'X').length;
    console.log(`trace: ${count('Paint')} Paint, ${count('RasterTask')} RasterTask, ${count('FireAnimationFrame')} FireAnimationFrame, ${count('Layerize')} Layerize events; complete events by total duration`);
    for (const [name, us] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${(us / 1000).toFixed(1).padStart(8)} ms  ${name}`);
  }
  const { profile } = (await cdp.send('Profiler.stop')) as { profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] } };
  console.log(`profiled ${Date.now() - t0} ms; DOM nodes rendered: ${await page.locator('.react-flow__node').count()}`);
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const maps = new Map<string, SourceMapConsumer | null>();
  const mapFor = async (url: string) => {
    if (!maps.has(url)) {
      try {
        const res = await fetch(`${url}.map`);
        maps.set(url, res.ok ? new SourceMapConsumer(JSON.parse(await res.text())) : null);
      } catch {
        maps.set(url, null);
      }
    }
    return maps.get(url) ?? null;
  };
  const nameOf = new Map<number, string>();
  for (const n of profile.nodes) {
    let name = n.callFrame.functionName || '(anonymous)';
    if (n.callFrame.url.startsWith(server.url)) {
      const m = await mapFor(n.callFrame.url);
      const pos = m?.originalPositionFor({ line: n.callFrame.lineNumber + 1, column: n.callFrame.columnNumber });
      if (pos?.source) name = `${pos.name ?? name} ${pos.source.replace(/^.*node_modules\//, '').replace(/^(\.\.\/)+/, '')}:${pos.line}`;
    }
    nameOf.set(n.id, name);
  }
  const byName = new Map<string, number>();
  for (const n of profile.nodes) {
    const us = self.get(n.id) ?? 0;
    if (us) byName.set(nameOf.get(n.id)!, (byName.get(nameOf.get(n.id)!) ?? 0) + us);
  }
  // Inclusive time per function (each name counted once per stack, so recursion is not double counted).
  const nodeById = new Map(profile.nodes.map((n) => [n.id, n]));
  const inclusive = new Map<string, number>();
  const walk = (id: number, onStack: Set<string>): number => {
    const n = nodeById.get(id)!;
    const name = nameOf.get(id)!;
    const fresh = !onStack.has(name);
    if (fresh) onStack.add(name);
    let total = self.get(id) ?? 0;
    for (const c of n.children ?? []) total += walk(c, onStack);
    if (fresh) {
      onStack.delete(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + total);
    }
    return total;
  };
  walk(profile.nodes[0].id, new Set());
  if (process.env.INCLUSIVE) {
    console.log('inclusive:');
    for (const [name, us] of [...inclusive].filter(([n]) => !n.startsWith('(')).sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.INCLUSIVE))) console.log(`${(us / 1000).toFixed(1).padStart(8)} ms  ${name}`);
  }
  const total = [...byName.values()].reduce((a, b) => a + b, 0);
  console.log(`total sampled ${(total / 1000).toFixed(0)} ms`);
  for (const [name, us] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 45))) console.log(`${(us / 1000).toFixed(1).padStart(8)} ms  ${name}`);
} finally {
  await context.close();
  await server.close();
  for (const d of [cwd, profileDir]) rmSync(d, { recursive: true, force: true });
}
void readFileSync;
