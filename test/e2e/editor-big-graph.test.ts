/**
 * Big graphs in the editor: only the nodes in view are drawn, and panning draws the ones that
 * come into view, joined to their edges at their ports (whose places are known before a node is
 * drawn); the minimap shows every node and moves the view; and a run's progress event re-renders
 * only the node it names. Speed itself is measured in bench/editor-open.ts, not here.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bigPipeline } from '../../bench/editor-open';
import type { NodesResponse } from '../../editor/api/types';
import type { Pipeline } from '../../engine/core/pipeline-schema';
import { estimatedHandles } from '../../editor/flow/node-estimate';
import { layoutProblems, viewportSettled } from './geometry';
import { dropFileOnCanvas, launchBrowser, node, openEditor, pageErrors, startEditorServer } from './helpers';

let server: Awaited<ReturnType<typeof startEditorServer>>;
let browser: BrowserContext;

beforeAll(async () => {
  [server, browser] = await Promise.all([startEditorServer(), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Where an edge's path ends, in canvas coordinates (the path's own). */
function edgeEnd(page: Page, source: string, target: string): Promise<{ x: number; y: number }> {
  return page.locator(`.react-flow__edge path[data-source="${source}"][data-target="${target}"]`).evaluate((p) => {
    const path = p as SVGPathElement;
    const end = path.getPointAtLength(path.getTotalLength());
    return { x: end.x, y: end.y };
  });
}

async function drag(page: Page, dx: number, dy: number): Promise<void> {
  const box = (await page.locator('.react-flow__pane').boundingBox())!;
  const x = box.x + box.width / 2;
  const y = box.y + box.height / 2;
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x + dx, y + dy, { steps: 12 });
  await page.mouse.up();
  await viewportSettled(page);
}

describe('a big graph', () => {
  it('draws only the nodes in view; panning draws those that come into view, joined to their edges at their ports', async () => {
    const page = await openEditor(browser, server.url);
    await dropFileOnCanvas(page, 'big.json', JSON.stringify(bigPipeline(100)));
    await page.getByText(/^500 nodes · 500 edges/).waitFor();
    await node(page, 'idea-0').waitFor();
    const drawn = await page.locator('.react-flow__node').count();
    expect(drawn).toBeGreaterThan(3);
    expect(drawn).toBeLessThan(100);
    await expect.poll(() => page.getByTestId('minimap').getAttribute('data-nodes')).toBe('500');

    // refine-0 lies right of the view: not drawn, yet the edge into it is, ending at its port.
    expect(await node(page, 'refine-0').count()).toBe(0);
    const before = await edgeEnd(page, 'pick-0', 'refine-0');
    await drag(page, -600, -60);
    await node(page, 'refine-0').waitFor();
    await node(page, 'save-0').waitFor();
    // Now drawn and measured, the port is where it was assumed to be.
    const after = await edgeEnd(page, 'pick-0', 'refine-0');
    expect(Math.abs(after.x - before.x)).toBeLessThan(0.6);
    expect(Math.abs(after.y - before.y)).toBeLessThan(0.6);
    const port = await node(page, 'refine-0').locator('.react-flow__handle.target[data-handleid="images"]').boundingBox();
    const pathEnd = await page.locator('.react-flow__edge path[data-source="pick-0"][data-target="refine-0"]').evaluate((p) => {
      const path = p as SVGPathElement;
      const end = path.getPointAtLength(path.getTotalLength());
      const m = path.getScreenCTM()!;
      return { x: m.a * end.x + m.c * end.y + m.e, y: m.b * end.x + m.d * end.y + m.f };
    });
    expect(Math.abs(pathEnd.x - port!.x)).toBeLessThan(1.5);
    expect(Math.abs(pathEnd.y - (port!.y + port!.height / 2))).toBeLessThan(1.5);
    // (This file's positions are hand-made, not an auto-layout: its prompt → refine edges do pass
    // the pick nodes; editor-usability.test.ts checks edges after auto-layout.)
    expect((await layoutProblems(page)).overlaps).toEqual([]);

    // The minimap's bottom is the graph's last chains: a click there brings them into view.
    const map = (await page.getByTestId('minimap').boundingBox())!;
    await page.mouse.click(map.x + map.width / 2, map.y + map.height - 8);
    await viewportSettled(page);
    const chains = () => page.locator('.react-flow__node').evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.id!.split('-').pop())));
    await expect.poll(async () => (await chains()).some((chain) => chain >= 90)).toBe(true);
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });

  it("places every node type's ports where they are drawn before the node is drawn", async () => {
    const descriptors = (await (await fetch(`${server.url}/api/nodes`)).json()) as NodesResponse;
    const doc: Pipeline = {
      version: 1,
      nodes: descriptors.map((d, i) => ({ id: `n${i}`, type: d.type, params: {}, position: { x: (i % 4) * 300, y: Math.floor(i / 4) * 260 } })),
      edges: [],
    };
    const page = await openEditor(browser, server.url);
    await dropFileOnCanvas(page, 'types.json', JSON.stringify(doc));
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(descriptors.length);
    await viewportSettled(page);
    const measured = await page.locator('.react-flow__node').evaluateAll((els) => {
      const zoom = new DOMMatrix(getComputedStyle(document.querySelector('.react-flow__viewport')!).transform).a;
      return els.map((el) => {
        const box = el.getBoundingClientRect();
        return {
          id: (el as HTMLElement).dataset.id!,
          handles: [...el.querySelectorAll<HTMLElement>('.react-flow__handle')].map((h) => {
            const r = h.getBoundingClientRect();
            return { id: h.dataset.handleid!, type: h.classList.contains('source') ? 'source' : 'target', x: (r.x - box.x) / zoom, y: (r.y - box.y) / zoom, width: r.width / zoom, height: r.height / zoom };
          }),
        };
      });
    });
    for (const [i, d] of descriptors.entries()) {
      const drawn = measured.find((m) => m.id === `n${i}`)!;
      const assumed = estimatedHandles(d);
      expect(drawn.handles.length, d.type).toBe(assumed.length);
      for (const h of assumed) {
        const m = drawn.handles.find((x) => x.id === h.id && x.type === h.type)!;
        expect(m, `${d.type} ${h.type} ${h.id}`).toBeDefined();
        for (const k of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(m[k] - (h[k] ?? 0)), `${d.type} ${h.type} ${h.id} ${k}`).toBeLessThan(0.6);
      }
    }
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  });
});

interface ProbeLog {
  log: (['events', [string, string | undefined][]] | ['render', string])[];
}

describe('run progress on a 50-node canvas', () => {
  it('one progress event re-renders one node, not all of them', async () => {
    // 48 idle prompt nodes, and one chain whose generate node makes its four drafts one at a time
    // (a concurrency of 1), so its progress events arrive one by one.
    const doc: Pipeline = {
      version: 1,
      name: 'one-busy-node',
      settings: { concurrency: { bfl: 1 } },
      nodes: [
        { id: 'idea', type: 'prompt', params: { text: 'a lighthouse at dawn' }, position: { x: 0, y: 0 } },
        { id: 'drafts', type: 'flux-flex-generate', params: { count: 4, steps: 6 }, position: { x: 320, y: 0 } },
        ...Array.from({ length: 48 }, (_, i) => ({ id: `still-${i}`, type: 'prompt', params: { text: `idle ${i}` }, position: { x: (i % 6) * 280, y: 260 + Math.floor(i / 6) * 140 } })),
      ],
      edges: [{ source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' }],
    };
    const context = await launchBrowser();
    try {
      await context.addInitScript(() => {
        const log: ProbeLog['log'] = [];
        (window as unknown as { __fluxgraphProbe: unknown; __probeLog: ProbeLog['log'] }).__probeLog = log;
        (window as unknown as { __fluxgraphProbe: unknown }).__fluxgraphProbe = {
          nodeRendered: (id: string) => log.push(['render', id]),
          runEventsApplied: (events: { type: string; nodeId?: string }[]) => log.push(['events', events.map((e) => [e.type, e.nodeId])]),
        };
      });
      server.host.emulator!.setLatency(400);
      const page = await openEditor(context, server.url);
      await dropFileOnCanvas(page, 'busy.json', JSON.stringify(doc));
      await expect.poll(() => page.locator('.react-flow__node').count()).toBe(50);
      await page.getByText('no errors').waitFor();
      await page.getByRole('button', { name: 'Run', exact: true }).click();
      await page.locator('[data-run-status="done"]').waitFor({ timeout: 60_000 });
      const log = await page.evaluate(() => (window as unknown as { __probeLog: ProbeLog['log'] }).__probeLog);

      // Each update of the run store, with the node renders that followed it.
      const updates: { events: [string, string | undefined][]; renders: string[] }[] = [];
      for (const entry of log) {
        if (entry[0] === 'events') updates.push({ events: entry[1], renders: [] });
        else updates.at(-1)?.renders.push(entry[1]);
      }
      const single = updates.filter((u) => u.events.length === 1 && u.events[0][0] === 'nodeProgress');
      expect(single.length).toBeGreaterThan(0);
      // That node may render twice (again when its new progress line changes its size), no other.
      for (const u of single) expect([...new Set(u.renders)]).toEqual([u.events[0][1]]);
      // And no update about some nodes re-renders any other node (the run's start and end are
      // about every node).
      const perNode = updates.filter((u) => u.events.every(([type, id]) => id !== undefined && type !== 'runStart' && type !== 'runDone'));
      for (const u of perNode) {
        const named = new Set(u.events.map(([, id]) => id));
        expect(u.renders.filter((id) => !named.has(id))).toEqual([]);
      }
      expect(pageErrors(page)).toEqual([]);
    } finally {
      server.host.emulator!.setLatency(300);
      await context.close();
    }
  });
});
