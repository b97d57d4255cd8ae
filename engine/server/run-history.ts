/**
 * The editor's history from the ledger: every run it knows (editor, CLI and library runs alike),
 * with the ledger's status (a run resumed to done reads done; a killed one, interrupted) and its
 * money as the ledger counts it, so History, `fluxgraph runs` and the CLI summary agree. The
 * editor's own record adds what only it kept (the images it showed, cached ones included).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readImageFileHeader } from '../core/image-file';
import type { ArtifactStore } from '../core/store';
import type { Ledger, RunRecord as LedgerRun } from '../store/ledger';
import type { RunImage, RunRecord } from '../../editor/api/types';

/** A ledger run as the editor lists it; `editor`: the editor's own record of it, if it made it. */
export function fromLedger(l: LedgerRun, editor: RunRecord | undefined): RunRecord {
  const results = l.options.batch && l.options.outDir ? join(l.options.outDir, l.runId, 'results.csv') : undefined;
  return {
    runId: l.runId,
    ...(l.name ? { pipeline: l.name } : {}),
    ...(l.owner ? { owner: l.owner } : {}),
    status: l.status,
    startedAt: l.startedAt,
    ...(l.finishedAt ? { elapsedMs: l.finishedAt - l.startedAt } : editor?.elapsedMs !== undefined ? { elapsedMs: editor.elapsedMs } : {}),
    nodeCount: l.pipeline.nodes.length,
    ...(l.options.only ? { only: l.options.only } : {}),
    images: editor?.images ?? [],
    imagesWritten: editor?.imagesWritten ?? [],
    failures: l.failures,
    costUsd: l.costUsd,
    costMicros: l.costMicros,
    costEstimated: l.costEstimated,
    unconfirmedMicros: l.unconfirmedMicros,
    providerCalls: l.calls,
    shared: l.shared,
    imageCount: l.images,
    resumable: l.resumable,
    origin: editor ? 'editor' : 'cli',
    ...(editor?.resumed ? { resumed: true } : {}),
    ...(results && existsSync(results) ? { results } : {}),
  };
}

interface TaskImageRow {
  node_id: string;
  item: number;
  row_n: number | null;
  provider: string;
  model: string;
  task_id: string | null;
  cost_micros: number | null;
  cost_estimated: number;
  shared: number;
  result_hash: string;
  result_json: string | null;
  request_json: string;
}

/** The images a run made or took from other runs' tasks, with what the lightbox shows of each (from the ledger). */
export async function ledgerImages(ledger: Ledger, store: ArtifactStore, runId: string): Promise<RunImage[]> {
  const rows = ledger.db
    .prepare(
      `SELECT node_id, item, row_n, provider, model, task_id, cost_micros, cost_estimated, shared, result_hash, result_json, request_json
       FROM tasks WHERE run_id = ? AND state = 'done' AND result_hash IS NOT NULL ORDER BY id`,
    )
    .all(runId) as TaskImageRow[];
  const images: RunImage[] = [];
  const seen = new Set<string>();
  for (const r of rows) {
    if (seen.has(r.result_hash)) continue;
    seen.add(r.result_hash);
    const result = safeJson(r.result_json) as { width?: number; height?: number; seed?: number };
    const request = safeJson(r.request_json) as { prompt?: string; seed?: number };
    images.push({
      nodeId: r.node_id,
      item: r.item,
      ...(r.row_n !== null ? { row: r.row_n } : {}),
      hash: r.result_hash,
      width: result.width ?? 0,
      height: result.height ?? 0,
      ...(r.shared ? { cached: true } : {}),
      facts: {
        provider: r.provider,
        model: r.model,
        ...(typeof (result.seed ?? request.seed) === 'number' ? { seed: (result.seed ?? request.seed)! } : {}),
        ...(typeof request.prompt === 'string' ? { prompt: request.prompt } : {}),
        ...(r.task_id ? { taskId: r.task_id } : {}),
        costMicros: r.shared ? 0 : (r.cost_micros ?? 0),
        costEstimated: r.cost_estimated === 1,
      },
    });
  }
  // Saved images the run took from the cache have no task of this run: their files name them.
  for (const f of ledger.filesOf(runId)) {
    if (seen.has(f.imageHash)) continue;
    seen.add(f.imageHash);
    const info = await readImageFileHeader(store.pathOf(f.imageHash)).catch(() => undefined);
    if (!info) continue;
    images.push({ nodeId: f.nodeId, item: f.item, hash: f.imageHash, width: info.width, height: info.height, cached: true });
  }
  return images;
}

function safeJson(text: string | null): Record<string, unknown> {
  try {
    const v = text ? (JSON.parse(text) as unknown) : {};
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
