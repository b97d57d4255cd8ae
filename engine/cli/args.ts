/** Parsing of `--set` and `--concurrency` values, with errors that say what is allowed. */
import { EngineError } from '../core/errors';
import type { Pipeline } from '../core/pipeline-schema';

/** A `--set` value: JSON when it parses (numbers, booleans, arrays), the raw string otherwise. */
function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Applies `--set node.param=value` (a node's param) and `--set name=value` (a `{name}`
 * placeholder variable). Returns the new document and the variables.
 */
export function applySets(doc: Pipeline, sets: readonly string[]): { doc: Pipeline; variables: Record<string, string> } {
  const variables: Record<string, string> = {};
  const nodes = doc.nodes.map((n) => ({ ...n, params: { ...n.params } }));
  for (const set of sets) {
    const eq = set.indexOf('=');
    if (eq <= 0) throw new EngineError('usage', `--set "${set}": expected node.param=value or name=value`);
    const key = set.slice(0, eq);
    const value = set.slice(eq + 1);
    const dot = key.indexOf('.');
    if (dot < 0) {
      variables[key] = value;
      continue;
    }
    const nodeId = key.slice(0, dot);
    const param = key.slice(dot + 1);
    const node = nodes.find((n) => n.id === nodeId);
    if (!node) throw new EngineError('usage', `--set ${key}: no node "${nodeId}" in the pipeline (nodes: ${nodes.map((n) => n.id).join(', ')})`);
    if (!param) throw new EngineError('usage', `--set ${key}: name a param after "${nodeId}."`);
    node.params[param] = parseValue(value);
  }
  return { doc: { ...doc, nodes }, variables };
}

/** `--concurrency bfl=8` → { bfl: 8 }. */
export function parseConcurrency(values: readonly string[], known: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) {
    const m = /^([a-z0-9-]+)=(\d+)$/.exec(v);
    if (!m) throw new EngineError('usage', `--concurrency "${v}": expected provider=N, e.g. bfl=8`);
    if (!known.includes(m[1])) throw new EngineError('usage', `--concurrency ${v}: unknown provider "${m[1]}" (known: ${known.join(', ')})`);
    const n = Number(m[2]);
    if (n < 1 || n > 1000) throw new EngineError('usage', `--concurrency ${v}: must be between 1 and 1000`);
    out[m[1]] = n;
  }
  return out;
}
