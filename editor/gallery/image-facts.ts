/**
 * What the lightbox says about an image: the node that made it, its seed, prompt, provider and
 * cost. Live images carry these in their metadata; past runs' images get them from the ledger
 * (engine/server/run-history.ts). Cost is shown with the engine's one rounding function.
 */
import { formatUsd, toMicros } from '../../engine/core/money';
import type { ImageFacts, RunImage } from '../api/types';
import type { NodeImage } from '../state/run-state';

/** A live run's image as the gallery and the lightbox list it. */
export function galleryImage(g: NodeImage): RunImage {
  const meta = g.image.meta;
  const facts: ImageFacts = {
    ...(meta?.provider ? { provider: meta.provider } : {}),
    ...(meta?.model ? { model: meta.model } : {}),
    ...(meta?.seed !== undefined ? { seed: meta.seed } : {}),
    ...(meta?.prompt ? { prompt: meta.prompt } : {}),
    ...(meta?.taskId ? { taskId: meta.taskId } : {}),
    ...(meta?.provider ? { costMicros: g.cached ? 0 : toMicros(meta.costUsd), costEstimated: meta.costEstimated === true } : {}),
    ...(meta?.source ? { source: meta.source } : {}),
  };
  return {
    nodeId: g.nodeId,
    item: g.item,
    ...(g.row !== undefined ? { row: g.row } : {}),
    ...(g.local !== undefined ? { local: g.local } : {}),
    hash: g.image.hash,
    width: g.image.width,
    height: g.image.height,
    ...(g.cached ? { cached: true } : {}),
    facts,
  };
}

/** The lightbox's list: label and value, in reading order. */
export function factRows(img: RunImage): [string, string][] {
  const f = img.facts ?? {};
  const rows: [string, string][] = [['node', `${img.nodeId} · image ${img.item}${img.row !== undefined ? ` · row ${img.row}` : ''}`]];
  if (f.seed !== undefined) rows.push(['seed', String(f.seed)]);
  if (f.prompt) rows.push(['prompt', f.prompt]);
  if (f.provider) rows.push(['provider', `${f.provider}${f.model ? ` (${f.model})` : ''}`]);
  if (f.costMicros !== undefined) rows.push(['cost', img.cached ? `${formatUsd(0)} (from the cache)` : formatUsd(f.costMicros, f.costEstimated === true)]);
  if (f.source) rows.push(['source', f.source]);
  if (f.taskId) rows.push(['task', f.taskId]);
  rows.push(['size', `${img.width}×${img.height}`]);
  return rows;
}
