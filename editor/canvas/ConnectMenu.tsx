/**
 * Dropping a connection on empty canvas opens this menu (as ComfyUI and n8n do): the node types
 * that can connect to the dragged port; the one picked is added there and connected.
 * Keyboard: arrows move, Enter picks, Escape or a click elsewhere closes.
 */
import { useEffect, useRef } from 'react';
import type { HandleRef } from '../flow/connection-check';
import { candidateEnds, type ConnectCandidate } from '../flow/connect-candidates';
import { ESTIMATED_NODE_SIZE } from '../flow/layout';
import { freeSpot } from '../flow/placement';
import { nodeBoxes, useEditor } from '../state/editor-store';

export interface ConnectMenuAt {
  from: HandleRef;
  candidates: ConnectCandidate[];
  /** Screen position of the drop. */
  x: number;
  y: number;
  /** Canvas position of the drop. */
  flowX: number;
  flowY: number;
}

/** Adds the picked node beside the drop point and connects it to the dragged port. */
export function addConnected(at: ConnectMenuAt, c: ConnectCandidate): string {
  const s = useEditor.getState();
  // An input dragged out: the new node goes to the left of the drop, its output at the pointer.
  const centre = { x: at.from.type === 'source' ? at.flowX + ESTIMATED_NODE_SIZE.width / 2 : at.flowX - ESTIMATED_NODE_SIZE.width / 2, y: at.flowY };
  const id = s.addNode(c.type, freeSpot(nodeBoxes(s.nodes), centre));
  useEditor.getState().connect(candidateEnds(at.from, id, c.port));
  return id;
}

export function ConnectMenu({ at, onClose }: { at: ConnectMenuAt; onClose(): void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLButtonElement>('button')?.focus();
    const onDown = (e: PointerEvent) => {
      if (!ref.current?.contains(e.target as Node)) onClose();
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        onClose();
      } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const items = [...(ref.current?.querySelectorAll<HTMLButtonElement>('button') ?? [])];
        const i = items.indexOf(document.activeElement as HTMLButtonElement);
        items[(i + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length]?.focus();
      }
    };
    window.addEventListener('pointerdown', onDown, true);
    window.addEventListener('keydown', onKey, true);
    return () => {
      window.removeEventListener('pointerdown', onDown, true);
      window.removeEventListener('keydown', onKey, true);
    };
  }, [onClose]);
  const left = Math.min(at.x, window.innerWidth - 240);
  const top = Math.min(at.y, window.innerHeight - 40 - 32 * at.candidates.length);
  const label = `Connect to ${at.from.type === 'source' ? 'output' : 'input'} "${at.from.id ?? ''}" of ${at.from.nodeId}`;
  return (
    <div ref={ref} className="fg-menu" role="menu" aria-label={label} style={{ left, top }} onContextMenu={(e) => e.preventDefault()} data-testid="connect-menu">
      <p className="fg-menu-title">{label}</p>
      {at.candidates.length === 0 ? <p className="fg-muted">No node type can connect here.</p> : null}
      {at.candidates.map((c) => (
        <button
          key={c.type}
          type="button"
          role="menuitem"
          data-node-type={c.type}
          onClick={() => {
            onClose();
            addConnected(at, c);
          }}
        >
          {c.title} <kbd>{c.port}</kbd>
        </button>
      ))}
    </div>
  );
}
