/**
 * crun.ai (providers.md 4): POST /api/v1/client/job/CreateTask with `x-api-key`, then GET
 * /api/v1/client/job/TaskInfo?task_id=. Models flux-2-flex and flux-2-max. The flux-2 `input`
 * fields are not published [U]: the mapping is one table of two shapes (CRUN_INPUT_STYLE), and
 * because a wrong guess would drop the references silently, TaskInfo's echo of the input
 * (`param.input`) is checked for them. Errors: HTTP status and/or body `code` with `message`.
 * Callbacks are unsigned, so they only nudge the poller.
 */
import { z } from 'zod';
import { EngineError } from '../core/errors';
import type { ImageRequest, ModelId, Provider, ProviderCapabilities, SubmitOptions, TaskRef, WaitOptions } from '../core/provider';
import { unsignedVerifier } from './callbacks';
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

export const CRUN_DEFAULT_BASE_URL = 'https://api.crun.ai';
const MAX_REFERENCES = 8;
const COMMON: (keyof ImageRequest)[] = ['prompt', 'references', 'width', 'height', 'seed', 'outputFormat'];
const MODELS: Partial<Record<ModelId, string>> = { flex: 'flux-2-flex', max: 'flux-2-max' };

/**
 * The two plausible input shapes (providers.md 9). `img_urls` is the default: it is what crun's
 * own API uses for its other image models, and a wrapper API tends to keep its field names across
 * models; `input_images` is the schema of the host whose FLUX.2 page crun's text copies.
 */
export type CrunInputStyle = 'img_urls' | 'input_images';
export const CRUN_INPUT_STYLES: readonly CrunInputStyle[] = ['img_urls', 'input_images'];

interface InputShape {
  /** The field the reference URLs go in, and that the echo must still hold. */
  referenceField: string;
  build(request: ImageRequest, urls: string[]): Record<string, unknown>;
}

const MEGAPIXEL_TIERS = [0.5, 1, 2, 4] as const;

export const CRUN_INPUT_SHAPES: Record<CrunInputStyle, InputShape> = {
  img_urls: {
    referenceField: 'img_urls',
    build(request, urls) {
      const input: Record<string, unknown> = { prompt: request.prompt };
      const size = wantedSize(request);
      if (size) {
        const t = ratioTier(size.width, size.height);
        input.aspect_ratio = t.aspectRatio;
        input.resolution = t.resolution;
      } else if (urls.length === 0) {
        input.aspect_ratio = '1:1';
        input.resolution = '1K';
      }
      if (urls.length > 0) input.img_urls = urls;
      if (request.outputFormat !== undefined) input.output_format = request.outputFormat;
      return input;
    },
  },
  input_images: {
    referenceField: 'input_images',
    build(request, urls) {
      const input: Record<string, unknown> = { prompt: request.prompt };
      const size = wantedSize(request);
      if (size) {
        input.aspect_ratio = ratioTier(size.width, size.height).aspectRatio;
        const mp = (size.width * size.height) / (1024 * 1024);
        const tier = MEGAPIXEL_TIERS.reduce((a, b) => (Math.abs(Math.log(b / mp)) < Math.abs(Math.log(a / mp)) ? b : a));
        input.resolution = `${tier} MP`;
      } else if (urls.length > 0) {
        input.aspect_ratio = 'match_input_image';
        input.resolution = 'match_input_image';
      }
      if (urls.length > 0) input.input_images = urls;
      if (request.outputFormat !== undefined) input.output_format = request.outputFormat === 'jpeg' ? 'jpg' : request.outputFormat;
      if (request.safetyTolerance !== undefined) input.safety_tolerance = Math.min(5, Math.max(1, request.safetyTolerance));
      return input;
    },
  },
};

export function mapCrunSize(width: number, height: number): { width: number; height: number; note?: string } {
  const t = ratioTier(width, height);
  const out = { width: t.width, height: t.height };
  const note = sizeNote({ width, height }, out, `crun.ai takes an aspect ratio (${t.aspectRatio}) and a 1K/2K resolution (${t.resolution})`);
  return note ? { ...out, note } : out;
}

export const capabilities: ProviderCapabilities = {
  models: ['flex', 'max'],
  honours: { flex: [...COMMON, 'steps', 'guidance'], max: COMMON },
  maxReferences: MAX_REFERENCES,
  referencesMustBeUrls: true,
  // Unsourced: crun publishes no per-account limit (providers.md 9 [U]); settable with --concurrency crun=N or settings.concurrency.
  defaultConcurrency: 10,
  mapSize: mapCrunSize,
};

const CreateResponse = z.object({
  code: z.number().optional(),
  data: z.object({ task_id: z.string().min(1) }).nullish(),
});

const TaskData = z.object({
  task_id: z.string().nullish(),
  status: z.string(),
  result: z
    .object({
      code: z.union([z.number(), z.string()]).nullish(),
      message: z.string().nullish(),
      media_urls: z.array(z.string()).nullish(),
    })
    .nullish(),
  credits: z.number().nullish(),
  param: z.unknown().optional(),
});

const CRUN_PARAMS = ['prompt', 'aspect_ratio', 'resolution', 'img_urls', 'input_images', 'safety_tolerance', 'output_format', 'seed', 'steps', 'guidance', 'model', 'callback_url'];
const MODERATION = /nsfw|moderat|sensitive|safety|flagged|violat|prohibit|inappropriate/i;

export function readCrunError(body: unknown, text: string): ErrorBodyInfo {
  if (isRecord(body)) {
    const message = typeof body.message === 'string' ? body.message : typeof body.msg === 'string' ? body.msg : undefined;
    if (message) return { message, param: CRUN_PARAMS.find((p) => new RegExp(`\\b${p}\\b`).test(message)) };
  }
  return text ? { message: clip(text, 200) } : {};
}

export interface CrunOptions extends AdapterOptions {
  /** CRUN_INPUT_STYLE; default img_urls. */
  inputStyle?: CrunInputStyle;
}

export function createCrunProvider(opts: CrunOptions = {}): Provider {
  const ctx = makeContext('crun', 'crun.ai', 'CRUN_API_KEY', opts);
  const style = opts.inputStyle ?? 'img_urls';
  const shape = CRUN_INPUT_SHAPES[style];
  const baseUrl = (opts.baseUrl ?? CRUN_DEFAULT_BASE_URL).replace(/\/+$/, '');
  const settings = resolvePoll(opts);
  const receiver = opts.callbacks;
  if (receiver) {
    receiver.register(
      'crun',
      unsignedVerifier((body) => (isRecord(body) ? (body.task_id ?? (isRecord(body.data) ? body.data.task_id : undefined)) : undefined)),
    );
  }

  function ensureOk(req: HttpRequest, res: JsonResponse): void {
    const bodyCode = isRecord(res.body) && typeof res.body.code === 'number' ? res.body.code : undefined;
    const httpOk = res.status >= 200 && res.status <= 299;
    if (httpOk && (bodyCode === undefined || bodyCode === 200)) return;
    const code = httpOk ? bodyCode! : res.status;
    const info = readCrunError(res.body, res.text);
    const said = info.message ? `: ${scrub(clip(info.message), ctx.secrets)}` : '';
    const ra = retryAfterSec(res.headers);
    const base = { provider: 'crun', crunCode: code, ...(req.taskId ? { taskId: req.taskId } : {}) };
    if (code === 455) throw new EngineError('provider_failed', `crun.ai is unavailable (maintenance, code 455${said}); try again later`, { ...base, retryable: true, ...(ra !== undefined ? { retryAfterSec: ra } : {}) });
    if (code === 505) throw new EngineError('provider_rejected', `crun.ai: this feature is disabled (code 505${said})`, { ...base, retryable: false });
    if (code === 501) throw new EngineError('provider_failed', `crun.ai: generation failed (code 501${said})`, { ...base, retryable: false });
    throw statusError(req, code, info, { crunCode: code, ...(ra !== undefined ? { retryAfterSec: ra } : {}) });
  }

  async function submit(request: ImageRequest, options: SubmitOptions): Promise<TaskRef> {
    const key = requireKey(ctx, opts.apiKey);
    const model = MODELS[request.model];
    if (!model) throw unsupportedModel(ctx, request.model, capabilities.models);
    const urls = referenceUrls(ctx, request.references, MAX_REFERENCES);
    const input = shape.build(request, urls);
    if (request.seed !== undefined) input.seed = request.seed;
    if (request.model === 'flex') {
      if (request.steps !== undefined) input.steps = request.steps;
      if (request.guidance !== undefined) input.guidance = request.guidance;
    }
    const body: Record<string, unknown> = { model, input };
    const callbackUrl = options.callbackUrl ?? receiver?.urlFor('crun');
    if (callbackUrl) body.callback_url = callbackUrl;
    const req: HttpRequest = {
      ctx,
      phase: 'submit',
      method: 'POST',
      url: joinUrl(baseUrl, '/api/v1/client/job/CreateTask'),
      headers: { 'x-api-key': key },
      json: body,
      signal: options.signal,
      timeoutMs: opts.submitTimeoutMs,
    };
    const res = await requestJson(req);
    ensureOk(req, res);
    const parsed = CreateResponse.safeParse(res.body);
    if (!parsed.success || !parsed.data.data) throw shapeError(req, 'no task_id in the CreateTask response');
    return {
      provider: 'crun',
      model: request.model,
      taskId: parsed.data.data.task_id,
      submittedAt: Date.now(),
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
      // What the input echo must still hold when the task is asked about.
      ...(urls.length > 0 ? { extra: { referenceField: shape.referenceField, references: urls.length, inputStyle: style } } : {}),
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
        url: joinUrl(baseUrl, `/api/v1/client/job/TaskInfo?task_id=${encodeURIComponent(task.taskId)}`),
        headers: { 'x-api-key': key },
        signal,
        taskId: task.taskId,
        timeoutMs: settings.requestTimeoutMs,
      };
      const res = await requestJson(req);
      ensureOk(req, res);
      return mapCrunTask(isRecord(res.body) ? res.body.data : undefined, task);
    };
    return waitAndDownload({
      ctx,
      task,
      options,
      settings,
      check,
      // Unsigned: every callback is a nudge to poll now, never a result by itself.
      pushed: receiver?.subscribe<ResultInfo>('crun', task.taskId, () => ({ state: 'pending', status: 'callback received' })),
    });
  }

  function mapCrunTask(data: unknown, task: TaskRef): PollStep<ResultInfo> {
    const taskId = task.taskId;
    const parsed = TaskData.safeParse(data);
    const details = { provider: 'crun', taskId, retryable: false };
    if (!parsed.success) throw new EngineError('provider_failed', `crun.ai: unexpected TaskInfo response for task ${taskId}`, { ...details, retryable: true });
    const { status, result } = parsed.data;
    const param = parsed.data.param;
    const dropped = droppedReferences(task, isRecord(param) && isRecord(param.input) ? param.input : undefined);
    if (dropped) return failed(new EngineError('provider_rejected', dropped, { ...details, param: 'references' }));
    if (status === 'success' || status === 'succeeded') {
      const url = result?.media_urls?.find((u) => typeof u === 'string' && u);
      if (!url) return failed(new EngineError('provider_failed', `crun.ai: task ${taskId} succeeded without media_urls`, details));
      return { state: 'done', value: { url } };
    }
    if (status === 'failed' || status === 'fail' || status === 'error') {
      const why = [result?.code, result?.message].filter((x) => x !== null && x !== undefined && x !== '').join(' ');
      const text = why ? scrub(clip(String(why), 200), ctx.secrets) : '';
      const code = MODERATION.test(text) ? 'moderated' : 'provider_failed';
      return failed(new EngineError(code, `crun.ai: task ${taskId} ${code === 'moderated' ? 'was moderated' : 'failed'}${text ? ` (${text})` : ''}`, details));
    }
    return { state: 'pending', status };
  }

  const caps: ProviderCapabilities =
    style === 'input_images' ? { ...capabilities, honours: { flex: [...capabilities.honours.flex!, 'safetyTolerance'], max: [...capabilities.honours.max!, 'safetyTolerance'] } } : capabilities;
  return { id: 'crun', title: 'crun.ai', capabilities: caps, submit, wait };
}

/**
 * A reference must never be dropped silently: when crun echoes the input it kept and the
 * reference field is not in it, the image would ignore the references, so the item fails.
 */
function droppedReferences(task: TaskRef, echoed: Record<string, unknown> | null | undefined): string | undefined {
  const field = task.extra?.referenceField;
  if (typeof field !== 'string' || !echoed) return undefined;
  const kept = echoed[field];
  if (Array.isArray(kept) && kept.length > 0) return undefined;
  const style = String(task.extra?.inputStyle ?? 'img_urls');
  const other = CRUN_INPUT_STYLES.find((s) => s !== style);
  return `crun.ai: task ${task.taskId} was accepted without its reference images (its input echo, param.input, has no "${field}"), so the result would ignore them; crun's FLUX.2 input fields are not published: try CRUN_INPUT_STYLE=${other}`;
}
