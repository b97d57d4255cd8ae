/**
 * The node types from the catalog: drag one onto the canvas, or click it, or search (best match
 * first) and press Enter.
 */
import { useReactFlow, type ReactFlowInstance } from '@xyflow/react';
import { forwardRef, useMemo, useState, type DragEvent, type KeyboardEvent } from 'react';
import type { NodeDescriptor } from '../../engine/core/describe';
import { freeSpot } from '../flow/placement';
import { rankSearch } from '../flow/search';
import type { FlowEdge, FlowNode } from '../flow/types';
import { useCatalog } from '../state/catalog-store';
import { nodeBoxes, useEditor } from '../state/editor-store';
import { categoryColors, portColor } from '../theme';
import { NODE_DRAG_TYPE } from './Canvas';

const CATEGORY_ORDER: NodeDescriptor['category'][] = ['input', 'generate', 'select', 'output'];
const CATEGORY_TITLES: Record<NodeDescriptor['category'], string> = { input: 'Inputs', generate: 'Generate', select: 'Select', output: 'Output' };

/** Where a node added by click or Enter goes: free space near the middle of the view. */
export function placeNearViewCentre(flow: ReactFlowInstance<FlowNode, FlowEdge>, type: string): void {
  const el = document.querySelector('.fg-canvas');
  const box = el?.getBoundingClientRect();
  const centre = box ? flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 }) : { x: 0, y: 0 };
  useEditor.getState().addNode(type, freeSpot(nodeBoxes(useEditor.getState().nodes), centre));
}

function PaletteItem({ d }: { d: NodeDescriptor }) {
  const flow = useReactFlow<FlowNode, FlowEdge>();
  const onDragStart = (e: DragEvent, type: string) => {
    e.dataTransfer.setData(NODE_DRAG_TYPE, type);
    e.dataTransfer.effectAllowed = 'move';
  };
  return (
    <li>
      <button
        type="button"
        className="fg-palette-item"
        draggable
        onDragStart={(e) => onDragStart(e, d.type)}
        onClick={() => placeNearViewCentre(flow, d.type)}
        title={`${d.description}\n\nDrag onto the canvas, or click to add.`}
        data-node-type={d.type}
        style={{ borderLeftColor: categoryColors[d.category] }}
      >
        <span className="fg-palette-title">{d.title}</span>
        <span className="fg-palette-ports">
          {d.inputs.map((p) => (
            <i key={`i-${p.name}`} className="fg-dot" style={{ background: portColor(p.kind) }} title={`in: ${p.name} (${p.kind})`} />
          ))}
          <span className="fg-arrow">→</span>
          {d.outputs.map((p) => (
            <i key={`o-${p.name}`} className="fg-dot" style={{ background: portColor(p.kind) }} title={`out: ${p.name} (${p.kind})`} />
          ))}
        </span>
      </button>
    </li>
  );
}

export const Palette = forwardRef<HTMLInputElement>(function Palette(_, searchRef) {
  const descriptors = useCatalog((s) => s.descriptors);
  const [query, setQuery] = useState('');
  const flow = useReactFlow<FlowNode, FlowEdge>();
  const shown = useMemo(() => rankSearch(descriptors, query), [descriptors, query]);
  const searching = query.trim() !== '';
  const add = (type: string) => placeNearViewCentre(flow, type);

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter' && shown.length > 0) {
      e.preventDefault();
      add(shown[0].type);
      setQuery('');
    } else if (e.key === 'Escape') {
      setQuery('');
      (e.target as HTMLInputElement).blur();
    }
  };

  return (
    <aside className="fg-palette" aria-label="Node palette">
      <input
        ref={searchRef}
        type="search"
        className="fg-search"
        placeholder="Search nodes…  ( / )"
        aria-label="Search nodes"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        onKeyDown={onKeyDown}
      />
      {searching ? (
        // Best match first (Enter adds it), across categories.
        <ul className="fg-palette-results" aria-label="Matching node types">
          {shown.map((d) => (
            <PaletteItem key={d.type} d={d} />
          ))}
        </ul>
      ) : (
        CATEGORY_ORDER.map((category) => {
          const items = shown.filter((d) => d.category === category);
          if (items.length === 0) return null;
          return (
            <section key={category} className="fg-palette-group">
              <h3 style={{ color: categoryColors[category] }}>{CATEGORY_TITLES[category]}</h3>
              <ul>
                {items.map((d) => (
                  <PaletteItem key={d.type} d={d} />
                ))}
              </ul>
            </section>
          );
        })
      )}
      {shown.length === 0 ? <p className="fg-muted">No node type matches “{query}”.</p> : null}
    </aside>
  );
});
