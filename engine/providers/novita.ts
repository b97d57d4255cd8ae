/**
 * novita.ai (providers.md 3): POST /v3/async/flux-2-{flex,pro} with a Bearer key, then GET
 * /v3/async/task-result?task_id=. `size` is "W*H" with each side 256–1536, at most 3 reference
 * URLs, no FLUX.2 [max]. Errors: `{code, reason, message}`; a low balance is HTTP 400
 * BILLING_BALANCE_NOT_ENOUGH, not 402. Callbacks use the generic v3-async `extra.webhook.url`
 * (not listed on the flux-2 pages [U]); they are unsigned, so they only nudge the poller.
 */
import { z } from 'zod';
import { EngineError } from '../core/errors';
import { unsignedVerifier } from './callbacks';
import type { ImageRequest, Provider, ProviderCapabilities, SubmitOptions, TaskRef, WaitOptions } from '../core/provider';
import {
  checkTask,
  failed,
  makeContext,
  referenceUrls,
  requireKey,
  resolvePoll,
  sizeNote,
  unsupportedModel,
  waitAndDownload,
  wantedSize,
  type AdapterOptions,
  type ResultInfo,
} from './common';
import { clip, isRecord, joinUrl, requestJson, retryAfterSec, scrub, shapeError, statusError, type ErrorBodyInfo, type HttpRequest, type JsonResponse } from './http';
import type { PollStep } from './poll';

export const NOVITA_DEFAULT_BASE_URL = 'https://api.novita.ai';
const MAX_REFERENCES = 3;
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
  maxReferences: MAX_REFERENCES,
  referencesMustBeUrls: true,
  // Unsourced: novita publishes no per-account limit (providers.md 9 [U]); settable with --concurrency novita=N or settings.concurrency.
  defaultConcurrency: 10,
  mapSize: mapNovitaSize,
};

const CreateResponse = z.object({ task_id: z.string().min(1) });

const TaskResult = z.object({
  task: z.object({
    task_id: z.string().nullish(),
    status: z.string(),
    reason: z.string().nullish(),
    progress_percent: z.number().nullish(),
  }),
  images: z.array(z.object({ image_url: z.string().nullish(), image_url_ttl: z.union([z.number(), z.string()]).nullish() })).nullish(),
  extra: z.object({ seed: z.union([z.string(), z.number()]).nullish() }).nullish(),
});

const NOVITA_PARAMS = ['prompt', 'size', 'images', 'seed'];
const MODERATION = /nsfw|illegal|moderat|sensitive|violat|prohibit|inappropriate/i;

export function readNovitaError(body: unknown, text: string): ErrorBodyInfo & { reason?: string } {
  if (isRecord(body)) {
    const reason = typeof body.reason === 'string' ? body.reason : undefined;
    const message = typeof body.message === 'string' ? body.message : (reason ?? undefined);
    const meta = isRecord(body.metadata) ? body.metadata : {};
    const named = typeof meta.param === 'string' ? meta.param : typeof meta.field === 'string' ? meta.field : undefined;
    const param = named ?? (message ? NOVITA_PARAMS.find((p) => new RegExp(`\\b${p}\\b`).test(message)) : undefined);
    const label = reason && message && message !== reason ? `${reason}: ${message}` : (message ?? reason);
    return { ...(label ? { message: label } : {}), ...(param ? { param } : {}), ...(reason ? { reason } : {}) };
  }
  return text ? { message: clip(text, 200) } : {};
}

export function createNovitaProvider(opts: AdapterOptions = {}): Provider {
  const ctx = makeContext('novita', 'novita.ai', 'NOVITA_API_KEY', opts);
  const baseUrl = (opts.baseUrl ?? NOVITA_DEFAULT_BASE_URL).replace(/\/+$/, '');
  const settings = resolvePoll(opts);
  const receiver = opts.callbacks;
  if (receiver) {
    receiver.register(
      'novita',
      unsignedVerifier((body) => {
        const payload = isRecord(body) && isRecord(body.payload) ? body.payload : undefined;
        return payload && isRecord(payload.task) ? payload.task.task_id : undefined;
      }),
    );
  }

  function ensureOk(req: HttpRequest, res: JsonResponse): void {
    if (res.status >= 200 && res.status <= 299) return;
    const info = readNovitaError(res.body, res.text);
    const ra = retryAfterSec(res.headers);
    const extra = { ...(ra !== undefined ? { retryAfterSec: ra } : {}), ...(info.reason ? { reason: info.reason } : {}) };
    const said = info.message ? ` (${scrub(clip(info.message), ctx.secrets)})` : '';
    const base = { provider: 'novita', httpStatus: res.status, retryable: false, ...(req.taskId ? { taskId: req.taskId } : {}), ...extra };
    const reason = info.reason ?? '';
    if (reason === 'BILLING_BALANCE_NOT_ENOUGH' || (res.status === 400 && /balance|insufficient/i.test(info.message ?? ''))) {
      throw new EngineError('insufficient_credits', `novita.ai: not enough balance${said}; top up the account and run again`, base);
    }
    if (reason === 'MISSING_API_KEY' || reason === 'INVALID_API_KEY') {
      throw new EngineError('auth', `novita.ai: the API key was refused${said}; check NOVITA_API_KEY`, base);
    }
    if (reason === 'ILLEGAL_PROMPT' || reason === 'ILLEGAL_IMAGE_CONTENT') {
      throw new EngineError('moderated', `novita.ai: the request was refused by moderation${said}; reword the prompt or change the references`, base);
    }
    if (reason === 'TASK_NOT_FOUND') {
      throw new EngineError('task_not_found', `novita.ai: task ${req.taskId ?? ''} is unknown or expired${said}`, base);
    }
    throw statusError(req, res.status, info, extra);
  }

  async function submit(request: ImageRequest, options: SubmitOptions): Promise<TaskRef> {
    const key = requireKey(ctx, opts.apiKey);
    if (!capabilities.models.includes(request.model)) throw unsupportedModel(ctx, request.model, capabilities.models);
    const urls = referenceUrls(ctx, request.references, MAX_REFERENCES);
    const body: Record<string, unknown> = { prompt: request.prompt };
    const size = wantedSize(request);
    if (size) {
      const m = mapNovitaSize(size.width, size.height);
      body.size = `${m.width}*${m.height}`;
    }
    if (request.seed !== undefined) body.seed = request.seed;
    if (urls.length > 0) body.images = urls;
    const callbackUrl = options.callbackUrl ?? receiver?.urlFor('novita');
    if (callbackUrl) body.extra = { webhook: { url: callbackUrl } };
    const req: HttpRequest = {
      ctx,
      phase: 'submit',
      method: 'POST',
      url: joinUrl(baseUrl, `/v3/async/flux-2-${request.model}`),
      headers: { authorization: `Bearer ${key}` },
      json: body,
      signal: options.signal,
      timeoutMs: opts.submitTimeoutMs,
    };
    const res = await requestJson(req);
    ensureOk(req, res);
    const parsed = CreateResponse.safeParse(res.body);
    if (!parsed.success) throw shapeError(req, 'no task_id in the submit response');
    return {
      provider: 'novita',
      model: request.model,
      taskId: parsed.data.task_id,
      submittedAt: Date.now(),
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
    };
  }

  async function wait(task: TaskRef, options: WaitOptions) {
    checkTask(ctx, task);
    const key = requireKey(ctx, opts.apiKey, task.taskId);
    const check = async (signal: AbortSignal): Promise<PollStep<ResultInfo>> => {
      const req: HttpRequest = {
        ctx,
        phase: 'poll',
        method: 'GET',
        url: joinUrl(baseUrl, `/v3/async/task-result?task_id=${encodeURIComponent(task.taskId)}`),
        headers: { authorization: `Bearer ${key}` },
        signal,
        taskId: task.taskId,
        timeoutMs: settings.requestTimeoutMs,
      };
      const res = await requestJson(req);
      ensureOk(req, res);
      return mapNovitaResult(res.body, task.taskId);
    };
    return waitAndDownload({
      ctx,
      task,
      options,
      settings,
      check,
      // Unsigned: a callback is a nudge to poll now, never a result by itself.
      pushed: receiver?.subscribe<ResultInfo>('novita', task.taskId, () => ({ state: 'pending', status: 'callback received' })),
    });
  }

  function mapNovitaResult(body: unknown, taskId: string): PollStep<ResultInfo> {
    const parsed = TaskResult.safeParse(body);
    const details = { provider: 'novita', taskId, retryable: false };
    if (!parsed.success) throw new EngineError('provider_failed', `novita.ai: unexpected task-result response for task ${taskId}`, { ...details, retryable: true });
    const { task, images, extra } = parsed.data;
    const status = task.status.replace(/^TASK_STATUS_/, '');
    if (status === 'SUCCEED' || status === 'SUCCEEDED') {
      const image = images?.find((i) => i.image_url);
      const url = image?.image_url;
      if (!url) return failed(new EngineError('provider_failed', `novita.ai: task ${taskId} succeeded without images`, details));
      const seed = Number(extra?.seed);
      // image_url_ttl: seconds, a number in task-result and a string in webhooks (providers.md 3.2).
      const ttl = Number(image?.image_url_ttl);
      return { state: 'done', value: { url, ...(Number.isFinite(ttl) && ttl > 0 ? { urlTtlSec: ttl } : {}), ...(extra?.seed !== undefined && extra?.seed !== null && Number.isSafeInteger(seed) && seed >= 0 ? { seed } : {}) } };
    }
    if (status === 'FAILED') {
      const reason = task.reason ? scrub(clip(task.reason, 200), ctx.secrets) : '';
      const code = MODERATION.test(reason) ? 'moderated' : 'provider_failed';
      return failed(new EngineError(code, `novita.ai: task ${taskId} ${code === 'moderated' ? 'was moderated' : 'failed'}${reason ? ` (${reason})` : ''}`, details));
    }
    const progress = typeof task.progress_percent === 'number' && task.progress_percent > 0 ? task.progress_percent / 100 : undefined;
    return { state: 'pending', status: task.status, ...(progress !== undefined ? { progress } : {}) };
  }

  return { id: 'novita', title: 'novita.ai', capabilities, submit, wait };
}
