/** What a run to here includes: the nodes asked for and everything they depend on (as the engine's `only`). */
import type { EdgeEnds } from './types';

export function upstreamOf(targets: readonly string[], edges: readonly Pick<EdgeEnds, 'source' | 'target'>[]): string[] {
  const into = new Map<string, string[]>();
  for (const e of edges) into.set(e.target, [...(into.get(e.target) ?? []), e.source]);
  const keep = new Set<string>();
  const todo = [...targets];
  while (todo.length) {
    const id = todo.pop()!;
    if (keep.has(id)) continue;
    keep.add(id);
    todo.push(...(into.get(id) ?? []));
  }
  return [...keep];
}
