/**
 * kie.ai market API (providers.md 2): POST /api/v1/jobs/createTask with a Bearer key, then GET
 * /api/v1/jobs/recordInfo?taskId=. Errors come as HTTP status and/or a body `code` (both are
 * checked); `resultJson` is a JSON string. Sizes are an aspect ratio and a 1K/2K tier; references
 * must be public URLs; there is no seed, steps or guidance, and no FLUX.2 [max].
 */
import { z } from 'zod';
import { EngineError } from '../core/errors';
import type { ImageRequest, ModelId, Provider, ProviderCapabilities, SubmitOptions, TaskRef, WaitOptions } from '../core/provider';
import { kieVerifier } from './callbacks';
import {
  checkTask,
  failed,
  makeContext,
  ratioTier,
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

export const KIE_DEFAULT_BASE_URL = 'https://api.kie.ai';
/** kie.ai's file upload API lives on another host (providers.md 9). */
export const KIE_DEFAULT_UPLOAD_BASE_URL = 'https://kieai.redpandaai.co';
/** Uploads are deleted after 24 hours or 3 days (the docs disagree): we count on the shorter. */
export const KIE_UPLOAD_LIFETIME_MS = 24 * 60 * 60_000;
const MAX_REFERENCES = 8;
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
  maxReferences: MAX_REFERENCES,
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

const CreateResponse = z.object({
  code: z.number().optional(),
  data: z.object({ taskId: z.string().min(1) }).nullish(),
});

const RecordData = z.object({
  taskId: z.string().nullish(),
  state: z.string().nullish(),
  resultJson: z.union([z.string(), z.record(z.string(), z.unknown())]).nullish(),
  failCode: z.union([z.string(), z.number()]).nullish(),
  failMsg: z.string().nullish(),
  progress: z.number().nullish(),
});

const KIE_PARAMS = ['prompt', 'aspect_ratio', 'resolution', 'input_urls', 'model', 'callBackUrl'];
const MODERATION = /nsfw|moderat|sensitive|safety|flagged|violat|prohibit|inappropriate/i;

/** `{code, msg}` on createTask, `{code, message}` on recordInfo. */
export function readKieError(body: unknown, text: string): ErrorBodyInfo {
  if (isRecord(body)) {
    const message = typeof body.msg === 'string' ? body.msg : typeof body.message === 'string' ? body.message : undefined;
    if (message) return { message, param: KIE_PARAMS.find((p) => message.includes(p)) };
  }
  return text ? { message: clip(text, 200) } : {};
}

export interface KieOptions extends AdapterOptions {
  /** Base of the file upload API (KIE_UPLOAD_BASE_URL); default https://kieai.redpandaai.co. */
  uploadBaseUrl?: string;
  /** Account `webhookHmacKey`: callbacks are verified with it; without it they only nudge the poller. */
  webhookHmacKey?: string;
}

export function createKieProvider(opts: KieOptions = {}): Provider {
  const ctx = makeContext('kie', 'kie.ai', 'KIE_API_KEY', { ...opts, secrets: [...(opts.secrets ?? []), ...(opts.webhookHmacKey ? [opts.webhookHmacKey] : [])] });
  const baseUrl = (opts.baseUrl ?? KIE_DEFAULT_BASE_URL).replace(/\/+$/, '');
  const settings = resolvePoll(opts);
  const receiver = opts.callbacks;
  if (receiver) receiver.register('kie', kieVerifier(opts.webhookHmacKey));

  /** Non-2xx HTTP, or HTTP 200 with an error `code` in the body ([U]: kie does both). */
  function ensureOk(req: HttpRequest, res: JsonResponse): void {
    const bodyCode = isRecord(res.body) && typeof res.body.code === 'number' ? res.body.code : undefined;
    const ok = res.status >= 200 && res.status <= 299 && (bodyCode === undefined || bodyCode === 200);
    if (ok) return;
    const code = res.status >= 200 && res.status <= 299 ? bodyCode! : res.status;
    throw codeError(req, code, readKieError(res.body, res.text), res.headers);
  }

  function codeError(req: HttpRequest, code: number, info: ErrorBodyInfo, headers: Headers): EngineError {
    const ra = retryAfterSec(headers);
    const extra = { ...(ra !== undefined ? { retryAfterSec: ra } : {}), kieCode: code };
    const said = info.message ? `: ${scrub(clip(info.message), ctx.secrets)}` : '';
    const base = { provider: 'kie', ...(req.taskId ? { taskId: req.taskId } : {}), kieCode: code };
    if (code === 455) return new EngineError('provider_failed', `kie.ai is unavailable (maintenance, code 455${said}); try again later`, { ...base, retryable: true, ...extra });
    if (code === 505) return new EngineError('provider_rejected', `kie.ai: this feature is disabled (code 505${said})`, { ...base, retryable: false });
    if (code === 501) return new EngineError('provider_failed', `kie.ai: generation failed (code 501${said})`, { ...base, retryable: false });
    return statusError(req, code, info, extra);
  }

  async function submit(request: ImageRequest, options: SubmitOptions): Promise<TaskRef> {
    const key = requireKey(ctx, opts.apiKey);
    if (!capabilities.models.includes(request.model)) throw unsupportedModel(ctx, request.model, capabilities.models);
    const { min, max } = capabilities.promptLength!;
    if (request.prompt.length < min || request.prompt.length > max) {
      throw new EngineError('invalid_param', `kie.ai takes prompts of ${min} to ${max.toLocaleString('en')} characters; this one has ${request.prompt.length}`, { provider: 'kie', param: 'prompt', retryable: false });
    }
    const urls = referenceUrls(ctx, request.references, MAX_REFERENCES);
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
    const body: Record<string, unknown> = { model: kieModel(request.model, urls.length > 0), input };
    const callbackUrl = options.callbackUrl ?? receiver?.urlFor('kie');
    if (callbackUrl) body.callBackUrl = callbackUrl;

    const req: HttpRequest = {
      ctx,
      phase: 'submit',
      method: 'POST',
      url: joinUrl(baseUrl, '/api/v1/jobs/createTask'),
      headers: { authorization: `Bearer ${key}` },
      json: body,
      signal: options.signal,
      timeoutMs: opts.submitTimeoutMs,
    };
    const res = await requestJson(req);
    ensureOk(req, res);
    const parsed = CreateResponse.safeParse(res.body);
    if (!parsed.success || !parsed.data.data) throw shapeError(req, 'no taskId in the createTask response');
    return { provider: 'kie', model: request.model, taskId: parsed.data.data.taskId, submittedAt: Date.now() };
  }

  async function wait(task: TaskRef, options: WaitOptions) {
    checkTask(ctx, task);
    const key = requireKey(ctx, opts.apiKey, task.taskId);
    const toStep = (data: unknown) => mapKieRecord(data, task.taskId);
    const check = async (signal: AbortSignal): Promise<PollStep<ResultInfo>> => {
      const req: HttpRequest = {
        ctx,
        phase: 'poll',
        method: 'GET',
        url: joinUrl(baseUrl, `/api/v1/jobs/recordInfo?taskId=${encodeURIComponent(task.taskId)}`),
        headers: { authorization: `Bearer ${key}` },
        signal,
        taskId: task.taskId,
        timeoutMs: settings.requestTimeoutMs,
      };
      const res = await requestJson(req);
      ensureOk(req, res);
      return toStep(isRecord(res.body) ? res.body.data : undefined);
    };
    return waitAndDownload({
      ctx,
      task,
      options,
      settings,
      check,
      pushed: receiver?.subscribe('kie', task.taskId, (payload) => toStep(isRecord(payload) ? payload.data : undefined)),
    });
  }

  function mapKieRecord(data: unknown, taskId: string): PollStep<ResultInfo> {
    const parsed = RecordData.safeParse(data);
    const details = { provider: 'kie', taskId, retryable: false };
    if (!parsed.success || !parsed.data.state) {
      throw new EngineError('provider_failed', `kie.ai: unexpected recordInfo response for task ${taskId}`, { ...details, retryable: true });
    }
    const d = parsed.data;
    const state = d.state!;
    if (state === 'success') {
      const urls = resultUrls(d.resultJson);
      if (!urls[0]) return failed(new EngineError('provider_failed', `kie.ai: task ${taskId} succeeded without resultUrls`, details));
      return { state: 'done', value: { url: urls[0] } };
    }
    if (state === 'fail' || state === 'failed') {
      const why = [d.failCode, d.failMsg].filter((x) => x !== null && x !== undefined && x !== '').join(' ');
      const text = why ? scrub(clip(String(why), 200), ctx.secrets) : '';
      if (MODERATION.test(text)) {
        return failed(new EngineError('moderated', `kie.ai: task ${taskId} was moderated (${text}); nothing usable was produced; reword the prompt or change the references`, { ...details, failCode: d.failCode }));
      }
      return failed(new EngineError('provider_failed', `kie.ai: task ${taskId} failed${text ? ` (${text})` : ''}`, { ...details, failCode: d.failCode }));
    }
    const progress = typeof d.progress === 'number' ? (d.progress > 1 ? d.progress / 100 : d.progress) : undefined;
    return { state: 'pending', status: state, ...(progress !== undefined ? { progress } : {}) };
  }

  const uploadBase = (opts.uploadBaseUrl ?? KIE_DEFAULT_UPLOAD_BASE_URL).replace(/\/+$/, '');

  /** POST /api/file-base64-upload: free, so a failed upload may simply be tried again. */
  async function uploadReference(image: { bytes: Buffer; mime: string; hash: string }, signal: AbortSignal) {
    const key = requireKey(ctx, opts.apiKey);
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
  }

  return { id: 'kie', title: 'kie.ai', capabilities, submit, wait, uploadReference };
}

function resultUrls(resultJson: unknown): string[] {
  let v: unknown = resultJson;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return [];
    }
  }
  if (!isRecord(v) || !Array.isArray(v.resultUrls)) return [];
  return v.resultUrls.filter((u): u is string => typeof u === 'string');
}
