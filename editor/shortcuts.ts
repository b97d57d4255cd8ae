/** Keyboard shortcuts: one table drives both the handler and the help panel. */

export interface Shortcut {
  keys: string;
  action: string;
}

export const SHORTCUTS: Shortcut[] = [
  { keys: 'Ctrl+Z', action: 'Undo' },
  { keys: 'Ctrl+Shift+Z / Ctrl+Y', action: 'Redo' },
  { keys: 'Ctrl+C / Ctrl+X / Ctrl+V', action: 'Copy, cut, paste the selected nodes' },
  { keys: 'Ctrl+D', action: 'Duplicate the selected nodes' },
  { keys: 'Delete / Backspace', action: 'Delete the selected nodes and edges' },
  { keys: 'Ctrl+A', action: 'Select all nodes' },
  { keys: 'Escape', action: 'Leave a field, clear the selection, close dialogs' },
  { keys: 'Ctrl+O', action: 'Open a pipeline file' },
  { keys: 'Ctrl+S', action: 'Save the pipeline file' },
  { keys: 'Ctrl+Enter', action: 'Run' },
  { keys: 'Ctrl+Shift+Enter', action: 'Run to here: the selected node and what it depends on (also on the node’s right-click menu)' },
  { keys: 'Ctrl+.', action: 'Stop the run' },
  { keys: 'L', action: 'Auto-layout' },
  { keys: 'F', action: 'Fit the view' },
  { keys: '/', action: 'Search node types (Enter adds the first match)' },
  { keys: '?', action: 'Show this help' },
  { keys: 'Shift+drag', action: 'Select several nodes with a box' },
  { keys: 'Scroll / drag the canvas', action: 'Zoom / pan' },
];

export interface ShortcutActions {
  undo(): void;
  redo(): void;
  copy(cut: boolean): void;
  paste(): void;
  duplicate(): void;
  remove(): void;
  selectAll(): void;
  escape(): void;
  open(): void;
  save(): void;
  run(): void;
  runToHere(): void;
  stop(): void;
  layout(): void;
  fit(): void;
  search(): void;
  help(): void;
}

function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  return el.isContentEditable || el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT';
}

/** Returns true when the event was a shortcut (and was handled). */
export function handleShortcut(e: KeyboardEvent, a: ShortcutActions): boolean {
  const mod = e.ctrlKey || e.metaKey;
  const key = e.key.toLowerCase();
  // Saving, opening, running work from anywhere; the rest leave text fields alone.
  if (mod && key === 's') return a.save(), true;
  if (mod && key === 'o') return a.open(), true;
  if (mod && key === 'enter') return e.shiftKey ? a.runToHere() : a.run(), true;
  if (mod && key === '.') return a.stop(), true;
  if (isTyping(e.target)) {
    // Escape leaves a text field; the next Escape clears the selection.
    if (key === 'escape') return (e.target as HTMLElement).blur(), true;
    return false;
  }
  if (mod && key === 'z') return e.shiftKey ? a.redo() : a.undo(), true;
  if (mod && key === 'y') return a.redo(), true;
  if (mod && key === 'c') return a.copy(false), true;
  if (mod && key === 'x') return a.copy(true), true;
  if (mod && key === 'v') return a.paste(), true;
  if (mod && key === 'd') return a.duplicate(), true;
  if (mod && key === 'a') return a.selectAll(), true;
  if (mod || e.altKey) return false;
  if (key === 'delete' || key === 'backspace') return a.remove(), true;
  if (key === 'escape') return a.escape(), true;
  if (key === 'l') return a.layout(), true;
  if (key === 'f') return a.fit(), true;
  if (key === '/') return a.search(), true;
  if (key === '?') return a.help(), true;
  return false;
}
