/** The real node catalog, as the server sends it to the editor. */
import { describeRegistry } from '../../engine/core/describe';
import { createRegistry } from '../../nodes/index';
import type { Catalog } from '../../editor/flow/flow-mapping';

export const descriptors = describeRegistry(createRegistry());
export const catalog: Catalog = new Map(descriptors.map((d) => [d.type, d]));

export function descriptor(type: string) {
  const d = catalog.get(type);
  if (!d) throw new Error(`no node type ${type}`);
  return d;
}

export function param(type: string, name: string) {
  const p = descriptor(type).params.find((x) => x.name === name);
  if (!p) throw new Error(`no param ${type}.${name}`);
  return p;
}
