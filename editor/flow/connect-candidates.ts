/**
 * What can be connected to a port dragged onto empty canvas: each node type with a port that
 * would accept the connection (checked by the same rules as a drawn connection), so the menu
 * offers only what works.
 */
import { checkConnection, type HandleRef } from './connection-check';
import type { Catalog } from './flow-mapping';
import type { EdgeEnds } from './types';

export interface ConnectCandidate {
  type: string;
  title: string;
  /** The new node's port the connection goes to (or comes from). */
  port: string;
}

/** A node id no graph uses, standing for the node the menu would add. */
const NEW = '\u0000new';

export function connectCandidates(from: HandleRef, catalog: Catalog, typeOf: (id: string) => string | undefined): ConnectCandidate[] {
  const out: ConnectCandidate[] = [];
  for (const d of catalog.values()) {
    const ports = from.type === 'source' ? d.inputs : d.outputs;
    for (const p of ports) {
      const ends: EdgeEnds =
        from.type === 'source'
          ? { source: from.nodeId, sourceHandle: from.id ?? '', target: NEW, targetHandle: p.name }
          : { source: NEW, sourceHandle: p.name, target: from.nodeId, targetHandle: from.id ?? '' };
      // A new node has no edges: only the port rules matter (kinds, lists), never a cycle.
      const verdict = checkConnection(ends, { typeOf: (id) => (id === NEW ? d.type : typeOf(id)), edges: [] }, catalog);
      if (verdict.ok) {
        out.push({ type: d.type, title: d.title, port: p.name });
        break;
      }
    }
  }
  return out;
}

/** The edge between the dragged port and the new node's port. */
export function candidateEnds(from: HandleRef, newNodeId: string, port: string): EdgeEnds {
  return from.type === 'source'
    ? { source: from.nodeId, sourceHandle: from.id ?? '', target: newNodeId, targetHandle: port }
    : { source: newNodeId, sourceHandle: port, target: from.nodeId, targetHandle: from.id ?? '' };
}
