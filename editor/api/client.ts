/**
 * The editor's only door to the engine: the local server's HTTP API. Same origin, JSON bodies
 * (the server refuses state changes from other origins and any body that is not JSON), except
 * an image's bytes for its provenance (application/octet-stream, which needs a preflight too).
 */
import type { RunEvent } from '../../engine/core/events';
import type {
  ApiErrorBody,
  AssetResponse,
  DocumentSource,
  EstimateRequest,
  EstimateResponse,
  FileResponse,
  FilesResponse,
  Issue,
  OpenedResponse,
  SaveFileRequest,
  TemplateResponse,
  TemplatesResponse,
  ValidateRequest,
  NodesResponse,
  ProvenanceResponse,
  ProvidersResponse,
  RunRecord,
  RunsResponse,
  ServerInfo,
  StartRunRequest,
  StartRunResponse,
  ValidateResponse, AccountsResponse, SessionResponse } from './types';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: Issue[] = [],
  ) {
    super(message);
  }
}

async function request<T>(path: string, init?: { method?: string; body?: unknown; bytes?: ArrayBuffer; signal?: AbortSignal }): Promise<T> {
  const res = await fetch(path, {
    method: init?.method ?? 'GET',
    headers: init?.bytes ? { 'content-type': 'application/octet-stream' } : init?.body !== undefined ? { 'content-type': 'application/json' } : {},
    body: init?.bytes ?? (init?.body !== undefined ? JSON.stringify(init.body) : undefined),
    signal: init?.signal,
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const err = (body as ApiErrorBody | undefined)?.error;
    throw new ApiError(res.status, err?.code ?? 'http', err?.message ?? `HTTP ${res.status}`, (body as ApiErrorBody | undefined)?.issues);
  }
  return body as T;
}

export const api = {
  info: () => request<ServerInfo>('/api/info'),
  nodes: () => request<NodesResponse>('/api/nodes'),
  providers: () => request<ProvidersResponse>('/api/providers'),
  validate: (body: ValidateRequest, signal?: AbortSignal) => request<ValidateResponse>('/api/validate', { method: 'POST', body, signal }),
  estimate: (body: EstimateRequest, signal?: AbortSignal) => request<EstimateResponse>('/api/estimate', { method: 'POST', body, signal }),
  /** The pipeline a saved image carries; an ApiError with code "no_provenance" when it has none. */
  provenance: (bytes: ArrayBuffer) => request<ProvenanceResponse>('/api/provenance', { method: 'POST', bytes }),
  startRun: (body: StartRunRequest) => request<StartRunResponse>('/api/runs', { method: 'POST', body }),
  cancelRun: (runId: string) => request<{ cancelled: boolean }>(`/api/runs/${encodeURIComponent(runId)}/cancel`, { method: 'POST', body: {} }),
  runs: () => request<RunsResponse>('/api/runs'),
  /** Each provider account's active, waiting and paused calls (names and counts only). */
  accounts: () => request<AccountsResponse>('/api/accounts'),
  /** Who is signed in and what their spending caps leave; { person: null } without access tokens. */
  session: () => request<SessionResponse>('/api/session').catch(() => ({ person: null }) as SessionResponse),
  /** One run with its images (the ledger's too: CLI runs, resumes). */
  run: (runId: string) => request<RunRecord>(`/api/runs/${encodeURIComponent(runId)}`),
  /** Continues a resumable run (an interrupted CLI run too) under its own id. */
  resumeRun: (runId: string) => request<StartRunResponse>(`/api/runs/${encodeURIComponent(runId)}/resume`, { method: 'POST', body: {} }),
  opened: () => request<OpenedResponse>('/api/opened'),
  files: () => request<FilesResponse>('/api/files'),
  readFile: (path: string) => request<FileResponse>(`/api/files/read?path=${encodeURIComponent(path)}`),
  writeFile: (body: SaveFileRequest) => request<{ path: string }>('/api/files/write', { method: 'POST', body }),
  templates: () => request<TemplatesResponse>('/api/templates'),
  /** Writes an image into assets/ beside the document (see engine/server/assets.ts). */
  uploadAsset: (bytes: ArrayBuffer, name: string, source: DocumentSource | undefined) => {
    const q = new URLSearchParams({ name });
    if (source?.kind === 'file') q.set('doc', source.path);
    if (source?.kind === 'template') q.set('template', source.name);
    return request<AssetResponse>(`/api/assets?${q}`, { method: 'POST', bytes });
  },
  template: (name: string) => request<TemplateResponse>(`/api/templates/${encodeURIComponent(name)}`),
};

export function imageUrl(hash: string): string {
  return `/api/images/${hash}`;
}

/** One ZIP of a run's images and sidecars, streamed by the server. */
export function zipUrl(runId: string): string {
  return `/api/runs/${encodeURIComponent(runId)}/zip`;
}

export function thumbUrl(hash: string, size = 160): string {
  return `/api/images/${hash}/thumb?size=${size}`;
}

/**
 * Follows a run's events over SSE. The server replays what was missed on reconnect (Last-Event-ID)
 * and the stream is closed here after `runDone`, so EventSource does not reconnect forever.
 */
export function followRun(
  runId: string,
  onEvent: (event: RunEvent) => void,
  onError: (message: string) => void,
): () => void {
  const source = new EventSource(`/api/runs/${encodeURIComponent(runId)}/events`);
  let closed = false;
  source.onmessage = (m) => {
    let event: RunEvent;
    try {
      event = JSON.parse(m.data as string) as RunEvent;
    } catch {
      return;
    }
    onEvent(event);
    if (event.type === 'runDone') {
      closed = true;
      source.close();
    }
  };
  source.onerror = () => {
    if (!closed && source.readyState === EventSource.CLOSED) onError('lost the connection to the server');
  };
  return () => {
    closed = true;
    source.close();
  };
}
