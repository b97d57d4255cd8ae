/**
 * The bottom panel: the run's images as they arrive (large preview on click, pick toggles for
 * drafts that feed a pick-images node), and the server's run history.
 */
import { useEffect, useMemo, useState } from 'react';
import { api, imageUrl, thumbUrl, zipUrl } from '../api/client';
import type { RunImage, RunRecord } from '../api/types';
import { isPicked, pickSlot, togglePick } from '../flow/picks';
import { resumeRun } from '../state/run-controller';
import { formatCost } from '../../engine/core/money';
import { factRows, galleryImage } from './image-facts';
import { nodeById, pickTargets } from '../state/derived';
import { useEditor } from '../state/editor-store';
import { useRunStore } from '../state/run-store';
import { isRunActive } from '../state/run-state';
import { useUi } from '../state/ui-store';
import { runStatusColors } from '../theme';
import { byRow, rowGroups } from './row-groups';
import { AccountLoads } from './AccountLoads';

function usePickFor(nodeId: string | undefined) {
  const pickId = useEditor((s) => (nodeId ? pickTargets(s.nodes, s.edges).get(nodeId) : undefined));
  const params = useEditor((s) => (pickId ? nodeById(s.nodes).get(pickId)?.data.params : undefined));
  return { pickId, params };
}

export function Preview() {
  const preview = useUi((s) => s.preview);
  const image = preview ? preview.images[preview.index] : undefined;
  const { pickId, params } = usePickFor(image?.nodeId);
  useEffect(() => {
    if (!preview) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') useUi.getState().closePreview();
      else if (e.key === 'ArrowRight') useUi.getState().stepPreview(1);
      else if (e.key === 'ArrowLeft') useUi.getState().stepPreview(-1);
      else return;
      e.stopPropagation();
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey, true);
    return () => window.removeEventListener('keydown', onKey, true);
  }, [preview]);
  if (!preview || !image) return null;
  const slot = pickSlot(image, preview.images);
  const picked = params ? isPicked(params, slot.index) : false;
  return (
    <div className="fg-modal-backdrop" onClick={() => useUi.getState().closePreview()}>
      <div className="fg-preview" role="dialog" aria-modal="true" aria-label={`Image ${image.item} of ${image.nodeId}`} onClick={(e) => e.stopPropagation()}>
        <img src={imageUrl(image.hash)} alt={`${image.nodeId} image ${image.item}`} />
        <dl className="fg-facts" data-testid="image-facts">
          {factRows(image).map(([label, value]) => (
            <div key={label} data-fact={label}>
              <dt>{label}</dt>
              <dd title={value}>{value}</dd>
            </div>
          ))}
        </dl>
        <footer>
          <span>
            <code title={image.hash}>{image.hash.slice(0, 12)}</code>
          </span>
          <span className="fg-preview-actions">
            {pickId && params ? (
              <button type="button" aria-pressed={picked} onClick={() => useEditor.getState().replaceParams(pickId, togglePick(params, slot.index, slot.count))}>
                {picked ? `Unpick (in "${pickId}")` : `Pick for "${pickId}"`}
              </button>
            ) : null}
            <a href={imageUrl(image.hash)} target="_blank" rel="noreferrer">
              Full size
            </a>
            <button type="button" onClick={() => useUi.getState().stepPreview(-1)} aria-label="Previous image">
              ←
            </button>
            <button type="button" onClick={() => useUi.getState().stepPreview(1)} aria-label="Next image">
              →
            </button>
            <button type="button" onClick={() => useUi.getState().closePreview()}>
              Close
            </button>
          </span>
        </footer>
      </div>
    </div>
  );
}

/** A gallery image; `earlier`: a node outside the current run to here, showing the run before. */
type GalleryImage = RunImage & { earlier?: boolean };

function GalleryTile({ image, images, index }: { image: GalleryImage; images: RunImage[]; index: number }) {
  const { pickId, params } = usePickFor(image.nodeId);
  const slot = pickSlot(image, images);
  const picked = params ? isPicked(params, slot.index) : false;
  return (
    <figure
      className={`fg-tile${picked ? ' fg-tile-picked' : ''}${image.earlier ? ' fg-tile-earlier' : ''}`}
      data-cached={image.cached ? 'true' : undefined}
      data-earlier={image.earlier ? 'true' : undefined}
      title={image.earlier ? `"${image.nodeId}" was not part of this run: an image of the run before` : undefined}
    >
      <button type="button" className="fg-tile-image" onClick={() => useUi.getState().openPreview(images, index)} aria-label={`open ${image.nodeId} image ${image.item}`}>
        <img src={thumbUrl(image.hash, 256)} alt={`${image.nodeId} image ${image.item}`} loading="lazy" />
        {image.cached ? (
          <span className="fg-cached-mark" title="From the cache: not paid for in this run">
            cached
          </span>
        ) : null}
      </button>
      <figcaption>
        <span>
          {image.nodeId} #{image.item}
        </span>
        {pickId && params ? (
          <button
            type="button"
            className="fg-pick-toggle"
            aria-pressed={picked}
            title={picked ? `unpick in "${pickId}"` : `pick for "${pickId}"`}
            onClick={() => useEditor.getState().replaceParams(pickId, togglePick(params, slot.index, slot.count))}
          >
            {picked ? '✓ picked' : 'pick'}
          </button>
        ) : null}
      </figcaption>
    </figure>
  );
}

function HistoryRow({ r }: { r: RunRecord }) {
  const money = r.costMicros !== undefined ? formatCost({ costMicros: r.costMicros, costEstimated: r.costEstimated === true, unconfirmedMicros: r.unconfirmedMicros ?? 0 }) : undefined;
  const images = r.imageCount ?? new Set(r.images.map((i) => i.hash)).size;
  return (
    <li data-run-id={r.runId} data-status={r.status}>
      <button type="button" onClick={() => useUi.getState().showHistoryRun(r.runId)} title="Show this run's images">
        <span className="fg-badge" data-status={r.status} style={{ background: runStatusColors[r.status] }}>
          {r.status}
        </span>
        <span>{r.pipeline ?? 'untitled'}</span>
        {r.owner ? (
          <span className="fg-tag" data-testid="run-owner" title="Started by">
            {r.owner}
          </span>
        ) : null}
        {r.origin === 'cli' ? <span className="fg-tag" title="Run with the CLI or the library">CLI</span> : null}
        {r.resumed ? <span className="fg-tag">resumed</span> : null}
        <span className="fg-muted">{new Date(r.startedAt).toLocaleString()}</span>
        <span className="fg-muted">
          {images} images{r.elapsedMs !== undefined ? ` · ${(r.elapsedMs / 1000).toFixed(1)} s` : ''}
          {r.failures ? ` · ${r.failures} failed` : ''}
          {money ? ` · ${money}` : ''}
        </span>
      </button>
      {r.resumable && r.status !== 'running' ? (
        <button type="button" className="fg-resume" onClick={() => void resumeRun(r.runId)} title={`Continue run ${r.runId}: what it paid for is not paid again`}>
          Resume
        </button>
      ) : null}
      {images > 0 && r.status !== 'running' ? (
        <a className="fg-link" href={zipUrl(r.runId)} download title="All of this run's images and sidecars as one ZIP">
          ZIP
        </a>
      ) : null}
    </li>
  );
}

function HistoryList({ refreshKey }: { refreshKey: string }) {
  const [runs, setRuns] = useState<RunRecord[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let live = true;
    api
      .runs()
      .then((r) => live && setRuns(r.runs))
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [refreshKey]);
  if (error) return <p className="fg-muted">Could not load the history: {error}</p>;
  if (!runs) return <p className="fg-muted">Loading…</p>;
  if (runs.length === 0) return <p className="fg-muted">No runs yet.</p>;
  return (
    <ul className="fg-history" data-testid="history">
      {runs.map((r) => (
        <HistoryRow key={r.runId} r={r} />
      ))}
    </ul>
  );
}

export function Gallery() {
  const gallery = useRunStore((s) => s.gallery);
  const outside = useRunStore((s) => (s.only ? s.nodes : undefined));
  const runId = useRunStore((s) => s.runId);
  const status = useRunStore((s) => s.status);
  const tab = useUi((s) => s.galleryTab);
  const historyRunId = useUi((s) => s.historyRunId);
  const [historyImages, setHistoryImages] = useState<RunImage[]>();
  const [collapsed, setCollapsed] = useState(false);

  useEffect(() => {
    if (!historyRunId) {
      setHistoryImages(undefined);
      return;
    }
    let live = true;
    api
      .run(historyRunId)
      .then((r) => live && setHistoryImages(r.images))
      .catch(() => live && setHistoryImages([]));
    return () => {
      live = false;
    };
  }, [historyRunId]);

  // A new live run takes the gallery back from a past one.
  useEffect(() => {
    if (runId) useUi.getState().showHistoryRun(undefined);
  }, [runId]);

  // Grouped by node (in the order nodes first delivered), then by item: drafts 0, 1, 2, 3, refine 0, 2.
  // A run to here lists its own images first, then those nodes outside it still show.
  const liveImages = useMemo<GalleryImage[]>(() => {
    const firstSeen = new Map<string, number>();
    gallery.forEach((g, i) => firstSeen.has(g.nodeId) || firstSeen.set(g.nodeId, i));
    const rank = (id: string) => (outside?.[id]?.outside ? gallery.length : 0) + firstSeen.get(id)!;
    return gallery
      .map((g) => ({ ...galleryImage(g), ...(outside?.[g.nodeId]?.outside ? { earlier: true } : {}) }))
      .sort((a, b) => byRow(a, b) || rank(a.nodeId) - rank(b.nodeId) || a.item - b.item);
  }, [gallery, outside]);
  const images = historyRunId && historyImages ? historyImages : liveImages;
  const shownRun = historyRunId ?? runId;
  // Nothing to show: the gallery is just its tab bar, and the canvas gets the room.
  const empty = tab === 'images' && images.length === 0 && !isRunActive(status);

  return (
    <section className={`fg-gallery${collapsed || empty ? ' fg-gallery-collapsed' : ''}`} aria-label="Gallery" data-empty={empty ? 'true' : undefined}>
      <div className="fg-gallery-tabs" role="tablist">
        <button type="button" role="tab" aria-selected={tab === 'images'} onClick={() => useUi.getState().setGalleryTab('images')}>
          Images {images.length ? `(${images.length})` : ''}
        </button>
        <button type="button" role="tab" aria-selected={tab === 'history'} onClick={() => useUi.getState().setGalleryTab('history')}>
          History
        </button>
        {historyRunId ? (
          <span className="fg-muted">
            showing run {historyRunId}{' '}
            <button type="button" className="fg-link" onClick={() => useUi.getState().showHistoryRun(undefined)}>
              back to the current run
            </button>
          </span>
        ) : null}
        {shownRun && !isRunActive(status) && images.length > 0 ? (
          <a className="fg-link" href={zipUrl(shownRun)} download data-testid="download-all" title="All of this run's images and sidecars as one ZIP">
            Download all
          </a>
        ) : null}
        {empty ? <span className="fg-muted fg-gallery-empty">Run the pipeline to see its images here. Click a draft on its node to pick it for refining.</span> : null}
        <AccountLoads />
        <span className="fg-spacer" />
        {empty ? null : (
          <button type="button" className="fg-link" onClick={() => setCollapsed(!collapsed)} aria-expanded={!collapsed}>
            {collapsed ? 'Show gallery' : 'Hide gallery'}
          </button>
        )}
      </div>
      {collapsed || empty ? null : tab === 'images' ? (
        images.length > 0 ? (
          <div className="fg-tiles" data-testid="gallery-images">
            {rowGroups(images).map(({ row, start, end }) =>
              [
                row !== undefined ? (
                  <div key={`row-${row}`} className="fg-row-head" data-testid="gallery-row">
                    row {row}
                  </div>
                ) : null,
                ...images.slice(start, end).map((img, k) => <GalleryTile key={`${img.nodeId}/${img.item}/${img.hash}`} image={img} images={images} index={start + k} />),
              ],
            )}
          </div>
        ) : (
          <p className="fg-muted fg-gallery-empty">Waiting for the first image…</p>
        )
      ) : (
        <HistoryList refreshKey={`${runId}/${status}`} />
      )}
    </section>
  );
}
