/**
 * The one node component (design.md 1.4): handles, params and run state all come from the
 * node's descriptor and from stores read by selector, so a run event re-renders only its node.
 */
import { Handle, Position, useStore, type NodeProps, type ReactFlowState } from '@xyflow/react';
import { memo, useCallback } from 'react';
import type { NodeDescriptor } from '../../engine/core/describe';
import type { InputPort, OutputPort } from '../../engine/core/ports';
import { thumbUrl } from '../api/client';
import type { Issue } from '../api/types';
import { shortMessage } from '../flow/messages';
import { isPicked, pickSlot, togglePick } from '../flow/picks';
import { galleryImage } from '../gallery/image-facts';
import { nodeById, pickTargets } from '../state/derived';
import type { FlowNode } from '../flow/types';
import { useDescriptor } from '../state/catalog-store';
import { useEditor } from '../state/editor-store';
import { formatUsd, nodeEstimateText, useNodeEstimate } from '../state/estimate-store';
import { useNodeIssues } from '../state/issues-store';
import { probe } from '../state/probe';
import { useNodeRun, useRunStore } from '../state/run-store';
import { isOutsideRun, type NodeImage, type NodeRunState } from '../state/run-state';
import { useUi } from '../state/ui-store';
import { categoryColors, portColor, statusColors, statusLabels } from '../theme';
import { ListPreview } from './ListPreview';

/** Below this zoom a node drops its details, so a big graph pans smoothly. */
const DETAIL_ZOOM = 0.45;
const zoomedOutSelector = (s: ReactFlowState) => s.transform[2] < DETAIL_ZOOM;
const MAX_THUMBS = 8;

function PortRow({ port, side, issue }: { port: ({ name: string } & InputPort) | ({ name: string } & OutputPort); side: 'in' | 'out'; issue?: Issue }) {
  const color = portColor(port.kind);
  const multiple = side === 'in' ? (port as InputPort).multiple : (port as OutputPort).list;
  const required = side === 'in' && (port as InputPort).required;
  const title = [`${port.name}: ${port.kind}${multiple ? (side === 'in' ? ', takes several' : ', a list') : ''}${required ? ', required' : ''}`, port.description, issue?.message]
    .filter(Boolean)
    .join('\n');
  return (
    <div className={`fg-port fg-port-${side}${issue ? ' fg-port-error' : ''}`} title={title}>
      <Handle
        type={side === 'in' ? 'target' : 'source'}
        position={side === 'in' ? Position.Left : Position.Right}
        id={port.name}
        className={`fg-handle fg-handle-${port.kind}${multiple ? ' fg-handle-multiple' : ''}`}
        style={{ background: color, borderColor: color }}
        aria-label={`${side === 'in' ? 'input' : 'output'} ${port.name}`}
      />
      <span className="fg-port-name">
        {port.name}
        {required ? <span className="fg-required" aria-hidden="true">*</span> : null}
      </span>
      <span className="fg-port-kind" style={{ color }}>
        {port.kind}
        {multiple ? '[]' : ''}
      </span>
    </div>
  );
}

function ParamSummary({ descriptor, params }: { descriptor: NodeDescriptor; params: Record<string, unknown> }) {
  const text = params.text ?? params.source;
  if (typeof text === 'string') return <p className="fg-node-text">{text}</p>;
  const shown = descriptor.params.filter((p) => params[p.name] !== undefined).slice(0, 6);
  if (shown.length === 0) return null;
  return (
    <div className="fg-chips">
      {shown.map((p) => (
        <span key={p.name} className="fg-chip">
          {p.name} <b>{Array.isArray(params[p.name]) ? (params[p.name] as unknown[]).join(',') : String(params[p.name])}</b>
        </span>
      ))}
    </div>
  );
}

function StatusBadge({ run }: { run: NodeRunState }) {
  return (
    <span className="fg-badge" data-status={run.status} style={{ background: statusColors[run.status] }}>
      {statusLabels[run.status]}
    </span>
  );
}

function Thumbnails({ nodeId, images }: { nodeId: string; images: NodeImage[] }) {
  const pickId = useEditor((s) => pickTargets(s.nodes, s.edges).get(nodeId));
  const pickParams = useEditor((s) => (pickId ? nodeById(s.nodes).get(pickId)?.data.params : undefined));
  const onClick = useCallback(
    (index: number) => {
      if (pickId && pickParams) {
        // In a batch a pick counts the drafts of each row: indices are per row.
        const slot = pickSlot(images[index], images);
        useEditor.getState().replaceParams(pickId, togglePick(pickParams, slot.index, slot.count));
      } else {
        useUi.getState().openPreview(
          images.map((i) => galleryImage(i)),
          index,
        );
      }
    },
    [pickId, pickParams, images],
  );
  const shown = images.slice(0, MAX_THUMBS);
  return (
    <div className="fg-thumbs nodrag" data-pick-target={pickId}>
      {shown.map((img, i) => {
        const picked = pickParams ? isPicked(pickParams, pickSlot(img, images).index) : false;
        return (
          <button
            key={`${img.item}-${img.image.hash}`}
            type="button"
            className={`fg-thumb${pickId ? ' fg-thumb-pickable' : ''}${picked ? ' fg-thumb-picked' : ''}`}
            onClick={() => onClick(i)}
            aria-pressed={pickId ? picked : undefined}
            aria-label={pickId ? `${picked ? 'unpick' : 'pick'} ${nodeId} image ${img.item}` : `preview ${nodeId} image ${img.item}`}
            title={pickId ? `image ${img.item}: click to ${picked ? 'unpick' : 'pick'} it in "${pickId}"` : `image ${img.item}: click to enlarge`}
          >
            <img src={thumbUrl(img.image.hash, 128)} alt={`${nodeId} image ${img.item}`} loading="lazy" draggable={false} />
            {picked ? <span className="fg-pick-mark">✓</span> : null}
            <span className="fg-thumb-index">{img.item}</span>
          </button>
        );
      })}
      {images.length > MAX_THUMBS ? <span className="fg-thumb-more">+{images.length - MAX_THUMBS}</span> : null}
    </div>
  );
}

function RunDetails({ nodeId, run, paramText }: { nodeId: string; run: NodeRunState; paramText?: unknown }) {
  const items = run.images.length + run.texts.length;
  const showBar = run.status === 'running';
  return (
    <div className="fg-run">
      {showBar ? (
        <div className="fg-progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={run.fraction !== undefined ? Math.round(run.fraction * 100) : undefined}>
          <div className={run.fraction === undefined ? 'fg-progress-indeterminate' : 'fg-progress-fill'} style={run.fraction !== undefined ? { width: `${Math.round(run.fraction * 100)}%` } : undefined} />
        </div>
      ) : null}
      {run.status === 'running' && (run.itemsRunning > 0 || run.progressText) ? (
        <div className="fg-run-line fg-run-active">
          {run.itemsRunning > 0 ? <span>{run.itemsRunning} active</span> : null}
          {run.progressText ? <span>{run.progressText}</span> : null}
          {run.fraction !== undefined ? <span>{Math.round(run.fraction * 100)}%</span> : null}
        </div>
      ) : null}
      <div className="fg-run-line">
        {run.files > 0 && items === 0 ? (
          <span className="fg-items" data-files={run.files}>
            {run.files} file{run.files === 1 ? '' : 's'} saved
          </span>
        ) : (
          <span className="fg-items" data-items={items} data-cached={run.cached}>
            {items} item{items === 1 ? '' : 's'}
            {run.cached ? ` (${run.cached} cached)` : ''}
          </span>
        )}
        {run.costUsd > 0 ? (
          <span className="fg-cost" data-cost={run.costUsd} title="What this node's provider calls cost in this run">
            {formatUsd(run.costUsd)}
          </span>
        ) : null}
        {run.failed ? <span className="fg-failed-count">{run.failed} failed</span> : null}
        {run.skippedItems ? <span className="fg-skipped-count">{run.skippedItems} skipped</span> : null}
        {run.elapsedMs !== undefined ? <span className="fg-elapsed">{(run.elapsedMs / 1000).toFixed(1)} s</span> : null}
      </div>
      {run.error ? (
        <p className="fg-run-error" title={run.error.message}>
          {run.error.item !== undefined ? `item ${run.error.item}: ` : ''}
          {shortMessage(run.error.message)}
        </p>
      ) : null}
      {run.status === 'skipped' && run.skippedReason ? <p className="fg-run-skip">{run.skippedReason}</p> : null}
      {run.texts.length > 0 && run.images.length === 0 && run.texts[0] !== paramText ? <p className="fg-node-text fg-node-output">{run.texts[0]}</p> : null}
      {run.images.length > 0 ? <Thumbnails nodeId={nodeId} images={run.images} /> : null}
    </div>
  );
}

function EstimateLine({ nodeId }: { nodeId: string }) {
  const estimate = useNodeEstimate(nodeId);
  if (!estimate) return null;
  return (
    <div
      className="fg-node-estimate"
      data-testid="node-estimate"
      data-calls={estimate.calls}
      data-cached={estimate.cached}
      data-usd={estimate.usd}
      title={`Next run: ${estimate.calls} paid call${estimate.calls === 1 ? '' : 's'} (${estimate.providers.join(', ') || 'no provider'}), ${estimate.cached} from the cache at $0${estimate.unpriced ? `, ${estimate.unpriced} with no known price` : ''}`}
    >
      next run {nodeEstimateText(estimate)}
    </div>
  );
}

function PipelineNodeView({ id, data, selected }: NodeProps<FlowNode>) {
  probe?.nodeRendered?.(id);
  const descriptor = useDescriptor(data.type);
  const run = useNodeRun(id);
  const outside = useRunStore((s) => isOutsideRun(s, id));
  const issues = useNodeIssues(id);
  const zoomedOut = useStore(zoomedOutSelector);
  const errors = issues.filter((i) => i.severity === 'error');
  const portIssue = (port: string) => issues.find((i) => i.port === port);
  const accent = descriptor ? categoryColors[descriptor.category] : '#ef4444';
  const className = [
    'fg-node',
    selected ? 'fg-node-selected' : '',
    errors.length ? 'fg-node-invalid' : issues.length ? 'fg-node-warning' : '',
    zoomedOut ? 'fg-node-compact' : '',
    outside ? 'fg-node-outside' : '',
  ]
    .filter(Boolean)
    .join(' ');
  return (
    <div
      className={className}
      data-status={run?.status ?? 'idle'}
      data-node-type={data.type}
      data-outside={outside ? 'true' : undefined}
      title={outside ? 'Not part of this run (a run to another node): it shows the previous run' : undefined}
      style={{ borderTopColor: accent }}
    >
      <header className="fg-node-header">
        <div className="fg-node-heading">
          <span className="fg-node-title">{descriptor?.title ?? data.type}</span>
          <span className="fg-node-id">{id}</span>
        </div>
        {run ? <StatusBadge run={run} /> : null}
      </header>
      {descriptor ? (
        <div className="fg-ports">
          <div className="fg-ports-col">
            {descriptor.inputs.map((p) => (
              <PortRow key={p.name} port={p} side="in" issue={portIssue(p.name)} />
            ))}
          </div>
          <div className="fg-ports-col fg-ports-out">
            {descriptor.outputs.map((p) => (
              <PortRow key={p.name} port={p} side="out" />
            ))}
          </div>
        </div>
      ) : (
        <p className="fg-node-issue">unknown node type "{data.type}"</p>
      )}
      {!zoomedOut && descriptor ? <ParamSummary descriptor={descriptor} params={data.params} /> : null}
      {!zoomedOut && run ? <RunDetails nodeId={id} run={run} paramText={data.params.text} /> : null}
      {!zoomedOut && descriptor?.usesProvider ? <EstimateLine nodeId={id} /> : null}
      {!zoomedOut && descriptor?.outputs.some((o) => o.iterates) ? <ListPreview nodeId={id} /> : null}
      {!zoomedOut && issues.length > 0 ? (
        <ul className="fg-node-issues">
          {issues.slice(0, 3).map((i, n) => (
            <li key={n} className={`fg-issue-${i.severity}`} data-code={i.code}>
              {shortMessage(i.message)}
            </li>
          ))}
          {issues.length > 3 ? <li>…and {issues.length - 3} more</li> : null}
        </ul>
      ) : null}
    </div>
  );
}

export const PipelineNode = memo(PipelineNodeView);
