/**
 * novita.ai (providers.md 3) as a task-API table: POST /v3/async/flux-2-{flex,pro} with a Bearer
 * key, then GET /v3/async/task-result?task_id=. `size` is "W*H" with each side 256–1536, at most 3
 * reference URLs, no FLUX.2 [max]. Errors: `{code, reason, message}` with a real HTTP status; a low
 * balance is HTTP 400 BILLING_BALANCE_NOT_ENOUGH, not 402. Callbacks use the generic v3-async
 * `extra.webhook.url` (not listed on the flux-2 pages [U]); they are unsigned, so they only nudge
 * the poller.
 */
import type { ImageRequest, Provider, ProviderCapabilities } from '../core/provider';
import { unsignedVerifier } from './callbacks';
import { sizeNote, wantedSize, type AdapterOptions } from './common';
import { clip, isRecord } from './http';
import { createTaskApiProvider, numeric, paramIn, type ErrorRead, type ErrorRule, type TaskApi } from './task-api';

export const NOVITA_DEFAULT_BASE_URL = 'https://api.novita.ai';
const MIN_SIDE = 256;
const MAX_SIDE = 1536;
const HONOURED: (keyof ImageRequest)[] = ['prompt', 'references', 'width', 'height', 'seed'];

/** Each side 256–1536 keeping the aspect ratio where possible; multiples of 16 ([I]: undocumented). */
export function mapNovitaSize(width: number, height: number): { width: number; height: number; note?: string } {
  let w = width;
  let h = height;
  const down = Math.min(1, MAX_SIDE / Math.max(w, h));
  w *= down;
  h *= down;
  const up = Math.max(1, MIN_SIDE / Math.min(w, h));
  w *= up;
  h *= up;
  const clamp = (n: number) => Math.min(MAX_SIDE, Math.max(MIN_SIDE, Math.round(n / 16) * 16));
  const out = { width: clamp(w), height: clamp(h) };
  const note = sizeNote({ width, height }, out, 'novita.ai takes sides from 256 to 1536');
  return note ? { ...out, note } : out;
}

export const capabilities: ProviderCapabilities = {
  models: ['flex', 'pro'],
  honours: { flex: HONOURED, pro: HONOURED },
  maxReferences: 3,
  referencesMustBeUrls: true,
  // Unsourced: novita publishes no per-account limit (providers.md 9 [U]); settable with --concurrency novita=N or settings.concurrency.
  defaultConcurrency: 10,
  mapSize: mapNovitaSize,
};

const PARAMS = ['prompt', 'size', 'images', 'seed'];

/** `{code, reason, message, metadata}`: the message with its reason, and the parameter it names. */
export function readNovitaError(body: unknown, text: string): ErrorRead {
  if (!isRecord(body)) return text ? { message: clip(text, 200) } : {};
  const reason = typeof body.reason === 'string' ? body.reason : undefined;
  const message = typeof body.message === 'string' ? body.message : reason;
  const meta = isRecord(body.metadata) ? body.metadata : {};
  const named = typeof meta.param === 'string' ? meta.param : typeof meta.field === 'string' ? meta.field : undefined;
  const param = named ?? (message ? paramIn(message, PARAMS).param : undefined);
  const label = reason && message && message !== reason ? `${reason}: ${message}` : message;
  return { ...(label ? { message: label } : {}), ...(param ? { param } : {}), ...(reason ? { reason } : {}) };
}

const inParens = (said: string) => (said ? ` (${said})` : '');
const LOW_BALANCE: ErrorRule = { code: 'insufficient_credits', retryable: false, message: (said) => `: not enough balance${inParens(said)}; top up the account and run again` };
const KEY_REFUSED: ErrorRule = { code: 'auth', retryable: false, message: (said) => `: the API key was refused${inParens(said)}; check NOVITA_API_KEY` };
const MODERATED: ErrorRule = { code: 'moderated', retryable: false, message: (said) => `: the request was refused by moderation${inParens(said)}; reword the prompt or change the references` };

/** novita's error names (providers.md 3.3). */
const REASONS: Record<string, ErrorRule> = {
  BILLING_BALANCE_NOT_ENOUGH: LOW_BALANCE,
  MISSING_API_KEY: KEY_REFUSED,
  INVALID_API_KEY: KEY_REFUSED,
  ILLEGAL_PROMPT: MODERATED,
  ILLEGAL_IMAGE_CONTENT: MODERATED,
  TASK_NOT_FOUND: { code: 'task_not_found', retryable: false, message: (said, taskId) => `: task ${taskId ?? ''} is unknown or expired${inParens(said)}` },
};

const STATUSES = { TASK_STATUS_SUCCEED: 'done', TASK_STATUS_SUCCEEDED: 'done', TASK_STATUS_FAILED: 'failed' } as const;

function body(request: ImageRequest, urls: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { prompt: request.prompt };
  const size = wantedSize(request);
  if (size) {
    const m = mapNovitaSize(size.width, size.height);
    out.size = `${m.width}*${m.height}`;
  }
  if (request.seed !== undefined) out.seed = request.seed;
  if (urls.length > 0) out.images = urls;
  return out;
}

/** The task-result schema (also a webhook's `payload`). */
function read(rec: unknown) {
  const task = isRecord(rec) && isRecord(rec.task) ? rec.task : undefined;
  if (!task || typeof task.status !== 'string') return {};
  const image = isRecord(rec) && Array.isArray(rec.images) ? rec.images.find((i) => isRecord(i) && typeof i.image_url === 'string' && i.image_url) : undefined;
  // image_url_ttl: seconds, a number in task-result and a string in webhooks (providers.md 3.2).
  const ttl = isRecord(image) ? numeric(image.image_url_ttl) : undefined;
  const seed = isRecord(rec) && isRecord(rec.extra) ? numeric(rec.extra.seed) : undefined;
  const percent = numeric(task.progress_percent);
  return {
    status: task.status,
    ...(isRecord(image) ? { url: image.image_url as string } : {}),
    ...(ttl !== undefined && ttl > 0 ? { urlTtlSec: ttl } : {}),
    ...(seed !== undefined && Number.isSafeInteger(seed) && seed >= 0 ? { seed } : {}),
    ...(typeof task.reason === 'string' && task.reason ? { failure: task.reason } : {}),
    ...(percent !== undefined && percent > 0 ? { progress: percent / 100 } : {}),
  };
}

export const novitaApi: TaskApi = {
  id: 'novita',
  title: 'novita.ai',
  keyEnv: 'NOVITA_API_KEY',
  defaultBaseUrl: NOVITA_DEFAULT_BASE_URL,
  capabilities,
  auth: (key) => ({ authorization: `Bearer ${key}` }),
  paths: { submit: (model) => `/v3/async/${model}`, status: (id) => `/v3/async/task-result?task_id=${encodeURIComponent(id)}` },
  model: (model) => (capabilities.models.includes(model) ? `flux-2-${model}` : undefined),
  body,
  withCallback: (b, url) => void (b.extra = { webhook: { url } }),
  taskId: (answer) => (isRecord(answer) && typeof answer.task_id === 'string' && answer.task_id ? answer.task_id : undefined),
  record: { status: (a) => a, callback: (b) => (isRecord(b) ? b.payload : undefined) },
  read,
  terminal: STATUSES,
  moderation: /nsfw|illegal|moderat|sensitive|violat|prohibit|inappropriate/i,
  errors: {
    bodyCode: false,
    read: readNovitaError,
    reasons: REASONS,
    // A low balance named only in words.
    fallback: (status, info) => (status === 400 && /balance|insufficient/i.test(info.message ?? '') ? LOW_BALANCE : undefined),
  },
  verifier: unsignedVerifier((b) => {
    const payload = isRecord(b) && isRecord(b.payload) ? b.payload : undefined;
    return payload && isRecord(payload.task) ? payload.task.task_id : undefined;
  }),
};

export function createNovitaProvider(opts: AdapterOptions = {}): Provider {
  return createTaskApiProvider(novitaApi, opts);
}
