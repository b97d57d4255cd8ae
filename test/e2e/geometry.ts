/**
 * Layout checks read from the page's DOM: node boxes as rendered, and edge paths sampled along
 * their length, in screen pixels.
 */
import type { Page } from 'playwright-core';

export interface LayoutProblems {
  nodes: number;
  edges: number;
  overlaps: string[];
  crossings: string[];
}

/** Pairs of nodes whose boxes overlap, and edges that pass through a node other than their ends. */
export async function layoutProblems(page: Page): Promise<LayoutProblems> {
  return page.evaluate(() => {
    const boxes = [...document.querySelectorAll<HTMLElement>('.react-flow__node')].map((el) => ({ id: el.dataset.id!, r: el.getBoundingClientRect() }));
    const overlaps: string[] = [];
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i].r;
        const b = boxes[j].r;
        if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) overlaps.push(`${boxes[i].id} × ${boxes[j].id}`);
      }
    }
    const crossings: string[] = [];
    const paths = [...document.querySelectorAll<SVGPathElement>('.react-flow__edge path.react-flow__edge-path')];
    for (const path of paths) {
      const source = path.dataset.source;
      const target = path.dataset.target;
      const ctm = path.getScreenCTM();
      if (!ctm) continue;
      const length = path.getTotalLength();
      const steps = Math.max(20, Math.ceil(length / 8));
      const hit = new Set<string>();
      for (let k = 0; k <= steps; k++) {
        const p = path.getPointAtLength((length * k) / steps);
        const x = ctm.a * p.x + ctm.c * p.y + ctm.e;
        const y = ctm.b * p.x + ctm.d * p.y + ctm.f;
        for (const b of boxes) {
          if (b.id === source || b.id === target) continue;
          // A couple of pixels of tolerance for anti-aliased borders.
          if (x > b.r.left + 2 && x < b.r.right - 2 && y > b.r.top + 2 && y < b.r.bottom - 2) hit.add(b.id);
        }
      }
      for (const id of hit) crossings.push(`${source}→${target} through ${id}`);
    }
    return { nodes: boxes.length, edges: paths.length, overlaps, crossings };
  });
}

/** The smallest text inside a node, in screen pixels (font size × the canvas zoom). */
export async function smallestNodeTextPx(page: Page): Promise<{ px: number; zoom: number; sample: string }> {
  return page.evaluate(() => {
    const viewport = document.querySelector<HTMLElement>('.react-flow__viewport')!;
    const zoom = new DOMMatrix(getComputedStyle(viewport).transform).a;
    let px = Infinity;
    let sample = '';
    for (const el of document.querySelectorAll<HTMLElement>('.react-flow__node *')) {
      const hasText = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent!.trim() !== '');
      if (!hasText || el.getClientRects().length === 0) continue;
      const size = parseFloat(getComputedStyle(el).fontSize) * zoom;
      if (size < px) {
        px = size;
        sample = `${el.className}: ${el.textContent!.trim().slice(0, 30)}`;
      }
    }
    return { px, zoom, sample };
  });
}

/** Waits until the canvas's transform stops changing (fit animations over). */
export async function viewportSettled(page: Page): Promise<void> {
  await page.waitForFunction(
    () =>
      new Promise((done) => {
        const el = document.querySelector('.react-flow__viewport') as HTMLElement;
        const before = el.style.transform;
        setTimeout(() => done(el.style.transform === before), 250);
      }),
  );
}
