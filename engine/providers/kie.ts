/**
 * kie.ai market API (providers.md 2) as a task-API table: POST /api/v1/jobs/createTask with a
 * Bearer key, then GET /api/v1/jobs/recordInfo?taskId=. Errors come as HTTP status and/or a body
 * `code` (both are read); `resultJson` is a JSON string. Sizes are an aspect ratio and a 1K/2K
 * tier; references must be public URLs, which kie's free upload API makes of local images; there
 * is no seed, steps or guidance, and no FLUX.2 [max].
 */
import { EngineError } from '../core/errors';
import type { ImageRequest, ModelId, Provider, ProviderCapabilities } from '../core/provider';
import { kieVerifier } from './callbacks';
import { ratioTier, sizeNote, wantedSize, type AdapterOptions } from './common';
import { isRecord, joinUrl, requestJson, shapeError, type HttpRequest } from './http';
import { createTaskApiProvider, MAINTENANCE_CODES, messageError, numeric, parsedJson, type TaskApi, type Upload } from './task-api';

export const KIE_DEFAULT_BASE_URL = 'https://api.kie.ai';
/** kie.ai's file upload API lives on another host (providers.md 9). */
export const KIE_DEFAULT_UPLOAD_BASE_URL = 'https://kieai.redpandaai.co';
/** Uploads are deleted after 24 hours or 3 days (the docs disagree): we count on the shorter. */
export const KIE_UPLOAD_LIFETIME_MS = 24 * 60 * 60_000;
const HONOURED: (keyof ImageRequest)[] = ['prompt', 'references', 'width', 'height'];

export function mapKieSize(width: number, height: number): { width: number; height: number; note?: string } {
  const t = ratioTier(width, height);
  const out = { width: t.width, height: t.height };
  const note = sizeNote({ width, height }, out, `kie.ai takes an aspect ratio (${t.aspectRatio}) and a 1K/2K resolution (${t.resolution})`);
  return note ? { ...out, note } : out;
}

export const capabilities: ProviderCapabilities = {
  models: ['flex', 'pro'],
  honours: { flex: HONOURED, pro: HONOURED },
  maxReferences: 8,
  referencesMustBeUrls: true,
  promptLength: { min: 3, max: 5000 },
  // Unsourced: kie publishes no per-account limit (providers.md 9 [U]); settable with --concurrency kie=N or settings.concurrency.
  defaultConcurrency: 10,
  mapSize: mapKieSize,
};

/** kie model id for a request (text-to-image or image-to-image). */
export function kieModel(model: ModelId, hasReferences: boolean): string {
  return `flux-2/${model}-${hasReferences ? 'image-to-image' : 'text-to-image'}`;
}

const STATES = { success: 'done', fail: 'failed', failed: 'failed' } as const;

function body(request: ImageRequest, urls: string[]): Record<string, unknown> {
  const input: Record<string, unknown> = { prompt: request.prompt };
  const size = wantedSize(request);
  if (size) {
    const t = ratioTier(size.width, size.height);
    input.aspect_ratio = t.aspectRatio;
    input.resolution = t.resolution;
  } else {
    input.aspect_ratio = urls.length > 0 ? 'auto' : '1:1';
    input.resolution = '1K';
  }
  if (urls.length > 0) input.input_urls = urls;
  return { model: kieModel(request.model, urls.length > 0), input };
}

/** kie checks prompt length (3 to 5,000 characters); a refusal here costs nothing. */
function refuse(request: ImageRequest): EngineError | undefined {
  const { min, max } = capabilities.promptLength!;
  if (request.prompt.length >= min && request.prompt.length <= max) return undefined;
  return new EngineError('invalid_param', `kie.ai takes prompts of ${min} to ${max.toLocaleString('en')} characters; this one has ${request.prompt.length}`, {
    provider: 'kie',
    param: 'prompt',
    retryable: false,
  });
}

/** POST /api/file-base64-upload: free, so a failed upload may simply be tried again. */
function uploadTo(uploadBase: string): Upload {
  return async (image, { ctx, key, signal, ensureOk }) => {
    const ext = image.mime === 'image/png' ? 'png' : image.mime === 'image/webp' ? 'webp' : 'jpg';
    const req: HttpRequest = {
      ctx,
      phase: 'poll',
      method: 'POST',
      url: joinUrl(uploadBase, '/api/file-base64-upload'),
      headers: { authorization: `Bearer ${key}` },
      // Named by content hash: a same name overwrites, and the same bytes overwrite harmlessly.
      json: { base64Data: `data:${image.mime};base64,${image.bytes.toString('base64')}`, uploadPath: 'fluxgraph', fileName: `${image.hash}.${ext}` },
      signal,
      timeoutMs: 120_000,
    };
    const res = await requestJson(req);
    ensureOk(req, res);
    const data = isRecord(res.body) && isRecord(res.body.data) ? res.body.data : undefined;
    const url = typeof data?.downloadUrl === 'string' ? data.downloadUrl : typeof data?.fileUrl === 'string' ? data.fileUrl : undefined;
    if (!url || !/^https?:\/\//i.test(url)) throw shapeError(req, 'no downloadUrl in the upload answer');
    return { url, expiresAt: Date.now() + KIE_UPLOAD_LIFETIME_MS };
  };
}

export interface KieOptions extends AdapterOptions {
  /** Base of the file upload API (KIE_UPLOAD_BASE_URL); default https://kieai.redpandaai.co. */
  uploadBaseUrl?: string;
  /** Account `webhookHmacKey`: callbacks are verified with it; without it they only nudge the poller. */
  webhookHmacKey?: string;
}

export function kieApi(opts: KieOptions = {}): TaskApi {
  return {
    id: 'kie',
    title: 'kie.ai',
    keyEnv: 'KIE_API_KEY',
    defaultBaseUrl: KIE_DEFAULT_BASE_URL,
    capabilities,
    auth: (key) => ({ authorization: `Bearer ${key}` }),
    paths: { submit: () => '/api/v1/jobs/createTask', status: (id) => `/api/v1/jobs/recordInfo?taskId=${encodeURIComponent(id)}` },
    model: (model, refs) => (capabilities.models.includes(model) ? kieModel(model, refs) : undefined),
    body,
    withCallback: (b, url) => void (b.callBackUrl = url),
    taskId: (answer) => {
      const data = isRecord(answer) && isRecord(answer.data) ? answer.data : undefined;
      return typeof data?.taskId === 'string' && data.taskId ? data.taskId : undefined;
    },
    record: { status: (a) => (isRecord(a) ? a.data : undefined), callback: (b) => (isRecord(b) ? b.data : undefined) },
    read: (rec) => {
      if (!isRecord(rec) || typeof rec.state !== 'string' || !rec.state) return {};
      const result = parsedJson(rec.resultJson);
      const urls = isRecord(result) && Array.isArray(result.resultUrls) ? result.resultUrls.filter((u): u is string => typeof u === 'string' && u !== '') : [];
      const failure = [rec.failCode, rec.failMsg].filter((x) => (typeof x === 'string' || typeof x === 'number') && x !== '').join(' ');
      const progress = numeric(rec.progress);
      return {
        status: rec.state,
        ...(urls[0] ? { url: urls[0] } : {}),
        ...(failure ? { failure } : {}),
        ...(progress !== undefined ? { progress: progress > 1 ? progress / 100 : progress } : {}),
      };
    },
    terminal: STATES,
    moderation: /nsfw|moderat|sensitive|safety|flagged|violat|prohibit|inappropriate/i,
    errors: { bodyCode: true, read: messageError(['prompt', 'aspect_ratio', 'resolution', 'input_urls', 'model', 'callBackUrl']), codes: MAINTENANCE_CODES },
    verifier: kieVerifier(opts.webhookHmacKey),
    ...(opts.webhookHmacKey ? { secrets: [opts.webhookHmacKey] } : {}),
    refuse,
    upload: uploadTo((opts.uploadBaseUrl ?? KIE_DEFAULT_UPLOAD_BASE_URL).replace(/\/+$/, '')),
  };
}

export function createKieProvider(opts: KieOptions = {}): Provider {
  return createTaskApiProvider(kieApi(opts), opts);
}
