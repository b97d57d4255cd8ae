/**
 * The node context menu (right-click on a node): run to here, duplicate, delete. Keyboard: arrow
 * keys move between items, Enter picks, Escape or a click elsewhere closes it.
 */
import { useEffect, useRef } from 'react';
import { useEditor } from '../state/editor-store';
import { startRun } from '../state/run-controller';
import { useRunStore } from '../state/run-store';
import { isRunActive } from '../state/run-state';

export interface NodeMenuAt {
  nodeId: string;
  x: number;
  y: number;
}

export function NodeMenu({ at, onClose }: { at: NodeMenuAt; onClose(): void }) {
  const ref = useRef<HTMLDivElement>(null);
  const active = useRunStore((s) => isRunActive(s.status));

  useEffect(() => {
    ref.current?.querySelector<HTMLButtonElement>('button:not(:disabled)')?.focus();
    const onDown = (e: PointerEvent) => {
      if (!ref.current?.contains(e.target as Node)) onClose();
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        onClose();
      } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const items = [...(ref.current?.querySelectorAll<HTMLButtonElement>('button:not(:disabled)') ?? [])];
        const at = items.indexOf(document.activeElement as HTMLButtonElement);
        items[(at + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length]?.focus();
      }
    };
    window.addEventListener('pointerdown', onDown, true);
    window.addEventListener('keydown', onKey, true);
    return () => {
      window.removeEventListener('pointerdown', onDown, true);
      window.removeEventListener('keydown', onKey, true);
    };
  }, [onClose]);

  const pick = (action: () => void) => () => {
    onClose();
    action();
  };
  // Kept inside the window.
  const left = Math.min(at.x, window.innerWidth - 220);
  const top = Math.min(at.y, window.innerHeight - 140);
  return (
    <div ref={ref} className="fg-menu" role="menu" aria-label={`Node ${at.nodeId}`} style={{ left, top }} onContextMenu={(e) => e.preventDefault()}>
      <button
        type="button"
        role="menuitem"
        disabled={active}
        title={`Run "${at.nodeId}" and what it depends on; upstream results come from the last run (Ctrl+Shift+Enter)`}
        onClick={pick(() => void startRun({ only: [at.nodeId] }))}
      >
        Run to here <kbd>Ctrl+Shift+Enter</kbd>
      </button>
      <button
        type="button"
        role="menuitem"
        onClick={pick(() => {
          const fragment = useEditor.getState().copySelection();
          if (fragment) useEditor.getState().paste(fragment);
        })}
      >
        Duplicate <kbd>Ctrl+D</kbd>
      </button>
      <button type="button" role="menuitem" className="fg-danger" onClick={pick(() => useEditor.getState().deleteSelection())}>
        Delete <kbd>Del</kbd>
      </button>
    </div>
  );
}
