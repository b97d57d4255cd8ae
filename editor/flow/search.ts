/**
 * Palette search ranked by match quality: a query word that is a whole word of the title beats
 * one that starts a word, which beats one found inside a word; the title counts more than the
 * type name, which counts more than the description. So `pro` finds "FLUX.2 [pro] generate"
 * before "Prompt".
 */
import type { NodeDescriptor } from '../../engine/core/describe';

type Searchable = Pick<NodeDescriptor, 'type' | 'title' | 'description' | 'category'>;

function words(text: string): string[] {
  return text.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
}

/** 3: a whole word, 2: the start of a word, 1: inside a word, 0: absent. */
function quality(query: string, text: string): number {
  const ws = words(text);
  if (ws.includes(query)) return 3;
  if (ws.some((w) => w.startsWith(query))) return 2;
  return text.toLowerCase().includes(query) ? 1 : 0;
}

const FIELD_WEIGHTS: [keyof Searchable, number][] = [
  ['title', 9],
  ['type', 3],
  ['category', 2],
  ['description', 1],
];

/** How well `d` matches `query` (0: not at all; every query word must match somewhere). */
export function searchScore(d: Searchable, query: string): number {
  const qs = query.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (qs.length === 0) return 1;
  let total = 0;
  for (const q of qs) {
    let best = 0;
    for (const [field, weight] of FIELD_WEIGHTS) best = Math.max(best, quality(q, d[field]) * weight);
    if (best === 0) return 0;
    total += best;
  }
  return total;
}

/** The descriptors matching `query`, best first (catalog order among equals). */
export function rankSearch<T extends Searchable>(descriptors: readonly T[], query: string): T[] {
  return descriptors
    .map((d, i) => ({ d, i, score: searchScore(d, query) }))
    .filter((x) => x.score > 0)
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .map((x) => x.d);
}
