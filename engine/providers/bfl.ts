/**
 * Black Forest Labs (providers.md 1): POST /v1/flux-2-{flex,max,pro} with `x-key`, then GET the
 * exact `polling_url` the submit returned (never rebuilt; SSRF-guarded because the key travels
 * with it), download `result.sample` at once (it expires in 10 minutes).
 */
import { z } from 'zod';
import { EngineError } from '../core/errors';
import type { ImageRequest, ModelId, Provider, ProviderCapabilities, SubmitOptions, TaskRef, WaitOptions } from '../core/provider';
import { bflVerifier } from './callbacks';
import {
  checkTask,
  creditsToUsd,
  failed,
  makeContext,
  requireKey,
  resolvePoll,
  roundTo,
  sizeNote,
  tooManyReferences,
  unsupportedModel,
  waitAndDownload,
  wantedSize,
  type AdapterOptions,
  type ResultInfo,
} from './common';
import { clip, hostOf, isRecord, joinUrl, requestJson, retryAfterSec, scrub, shapeError, statusError, type ErrorBodyInfo, type HttpRequest } from './http';
import type { PollStep } from './poll';

export const BFL_DEFAULT_BASE_URL = 'https://api.bfl.ai';
const MAX_PIXELS = 2048 * 2048;
const MAX_REFERENCES = 8;
const PATHS: Record<ModelId, string> = { flex: '/v1/flux-2-flex', max: '/v1/flux-2-max', pro: '/v1/flux-2-pro' };
const COMMON: (keyof ImageRequest)[] = ['prompt', 'references', 'width', 'height', 'seed', 'safetyTolerance', 'outputFormat'];

/** Multiples of 16, at least 64, at most 4 MP (providers.md 1.4). */
export function mapBflSize(width: number, height: number): { width: number; height: number; note?: string } {
  let w = width;
  let h = height;
  let why = 'multiples of 16, at least 64';
  if (w * h > MAX_PIXELS) {
    const s = Math.sqrt(MAX_PIXELS / (w * h));
    w = Math.floor((w * s) / 16) * 16;
    h = Math.floor((h * s) / 16) * 16;
    why = 'at most 4 megapixels, multiples of 16';
  }
  const out = { width: roundTo(w, 16, 64), height: roundTo(h, 16, 64) };
  if (out.width * out.height > MAX_PIXELS) {
    out.width = Math.floor(w / 16) * 16;
    out.height = Math.floor(h / 16) * 16;
  }
  const note = sizeNote({ width, height }, out, why);
  return note ? { ...out, note } : out;
}

export const capabilities: ProviderCapabilities = {
  models: ['flex', 'max', 'pro'],
  honours: {
    flex: [...COMMON, 'steps', 'guidance', 'promptUpsampling'],
    max: COMMON,
    pro: COMMON,
  },
  maxReferences: MAX_REFERENCES,
  referencesMustBeUrls: false,
  defaultConcurrency: 24,
  documentedConcurrency: 24,
  mapSize: mapBflSize,
};

const SubmitResponse = z.object({
  id: z.string().min(1),
  polling_url: z.string().nullish(),
  cost: z.number().nullish(),
});

const ResultResponse = z.object({
  id: z.string().nullish(),
  status: z.string(),
  result: z
    .object({ sample: z.string().nullish(), seed: z.number().nullish() })
    .nullish(),
  progress: z.number().nullish(),
  details: z.unknown().optional(),
  // Webhook failure payloads carry the reason at the top level (providers.md 9, skills repo).
  error: z.unknown().optional(),
  message: z.unknown().optional(),
});

/** `{"detail": "..."}` or FastAPI's `{"detail": [{"loc": ["body", "steps"], "msg": "..."}]}`. */
export function readBflError(body: unknown, text: string): ErrorBodyInfo {
  if (isRecord(body)) {
    const d = body.detail;
    if (typeof d === 'string') return { message: d };
    if (Array.isArray(d) && d.length > 0 && isRecord(d[0])) {
      const first = d[0];
      const loc = Array.isArray(first.loc) ? first.loc.filter((p) => p !== 'body') : [];
      const param = loc.length > 0 ? String(loc[loc.length - 1]) : undefined;
      const msg = typeof first.msg === 'string' ? first.msg : 'invalid value';
      return { message: param ? `${param}: ${msg}` : msg, param };
    }
    if (typeof body.message === 'string') return { message: body.message };
    if (typeof body.error === 'string') return { message: body.error };
  }
  return text ? { message: clip(text, 200) } : {};
}

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * Where the key may be sent on polls: https under bfl.ai; the base URL's own origin (a proxy);
 * and, when the base URL is loopback (the emulator), any loopback host and port.
 */
export function isTrustedPollingUrl(pollingUrl: string, baseUrl: string): boolean {
  let u: URL;
  let b: URL;
  try {
    u = new URL(pollingUrl);
    b = new URL(baseUrl);
  } catch {
    return false;
  }
  if (u.username || u.password) return false;
  if (u.protocol === 'https:' && (u.hostname === 'bfl.ai' || u.hostname.endsWith('.bfl.ai'))) return true;
  if (u.origin === b.origin) return true;
  return isLoopbackHost(b.hostname) && isLoopbackHost(u.hostname) && (u.protocol === 'http:' || u.protocol === 'https:');
}

export interface BflOptions extends AdapterOptions {
  /** Header the webhook signature arrives in (providers.md 1.9 [U]). */
  signatureHeader?: string;
}

export function createBflProvider(opts: BflOptions = {}): Provider {
  const ctx = makeContext('bfl', 'BFL', 'BFL_API_KEY', opts);
  const baseUrl = (opts.baseUrl ?? BFL_DEFAULT_BASE_URL).replace(/\/+$/, '');
  const settings = resolvePoll(opts);
  const receiver = opts.callbacks;
  if (receiver) receiver.register('bfl', bflVerifier(receiver.secretFor('bfl'), opts.signatureHeader));

  async function submit(request: ImageRequest, options: SubmitOptions): Promise<TaskRef> {
    const key = requireKey(ctx, opts.apiKey);
    if (!capabilities.models.includes(request.model)) throw unsupportedModel(ctx, request.model, capabilities.models);
    if (request.references.length > MAX_REFERENCES) throw tooManyReferences(ctx, request.references.length, MAX_REFERENCES);
    const body: Record<string, unknown> = { prompt: request.prompt };
    const size = wantedSize(request);
    if (size) {
      const mapped = mapBflSize(size.width, size.height);
      body.width = mapped.width;
      body.height = mapped.height;
    }
    if (request.seed !== undefined) body.seed = request.seed;
    if (request.safetyTolerance !== undefined) body.safety_tolerance = request.safetyTolerance;
    if (request.outputFormat !== undefined) body.output_format = request.outputFormat;
    if (request.model === 'flex') {
      if (request.promptUpsampling !== undefined) body.prompt_upsampling = request.promptUpsampling;
      if (request.guidance !== undefined) body.guidance = request.guidance;
      if (request.steps !== undefined) body.steps = request.steps;
    }
    for (const [i, ref] of request.references.entries()) {
      body[i === 0 ? 'input_image' : `input_image_${i + 1}`] = ref.url ?? (await ref.read()).toString('base64');
    }
    const callbackUrl = options.callbackUrl ?? receiver?.urlFor('bfl');
    if (callbackUrl) {
      body.webhook_url = callbackUrl;
      if (receiver) body.webhook_secret = receiver.secretFor('bfl');
    }

    const req: HttpRequest = {
      ctx,
      phase: 'submit',
      method: 'POST',
      url: joinUrl(baseUrl, PATHS[request.model]),
      headers: { 'x-key': key },
      json: body,
      signal: options.signal,
      timeoutMs: opts.submitTimeoutMs,
    };
    const res = await requestJson(req);
    if (res.status < 200 || res.status > 299) {
      throw statusError(req, res.status, readBflError(res.body, res.text), { ...retryAfter(res.headers), model: request.model });
    }
    const parsed = SubmitResponse.safeParse(res.body);
    if (!parsed.success) throw shapeError(req, 'no task id in the submit response');
    const { id, polling_url, cost } = parsed.data;
    const costUsd = creditsToUsd(cost, 0.01);
    // A webhook submit may come back without polling_url (AsyncWebhookResponse): then the host
    // that accepted the submit is the one to ask, recorded so a resume asks it too.
    const pollHost = polling_url ? undefined : new URL(req.url).origin;
    return {
      provider: 'bfl',
      model: request.model,
      taskId: id,
      ...(polling_url ? { pollingUrl: polling_url } : {}),
      ...(costUsd !== undefined ? { costUsd } : {}),
      submittedAt: Date.now(),
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
      extra: {
        ...(pollHost ? { pollHost } : {}),
        ...(request.safetyTolerance !== undefined ? { safetyTolerance: request.safetyTolerance } : {}),
        ...(request.outputFormat ? { outputFormat: request.outputFormat } : {}),
      },
    };
  }

  async function wait(task: TaskRef, options: WaitOptions) {
    checkTask(ctx, task);
    const key = requireKey(ctx, opts.apiKey, task.taskId);
    // Submits with a webhook may get no polling_url back (AsyncWebhookResponse); only then is get_result
    // asked of the host that accepted the submit. Not found early on is pending (poll.ts's grace rule).
    const submitHost = typeof task.extra?.pollHost === 'string' ? task.extra.pollHost : baseUrl;
    const pollingUrl = task.pollingUrl ?? joinUrl(submitHost, `/v1/get_result?id=${encodeURIComponent(task.taskId)}`);
    if (!isTrustedPollingUrl(pollingUrl, baseUrl)) {
      throw new EngineError(
        'provider_failed',
        `BFL: refusing to poll task ${task.taskId} at ${hostOf(pollingUrl)}: polling URLs must be https under bfl.ai (or on the configured base URL's host)`,
        { provider: 'bfl', taskId: task.taskId, retryable: false },
      );
    }
    const tolerance = typeof task.extra?.safetyTolerance === 'number' ? task.extra.safetyTolerance : 2;
    const toStep = (body: unknown) => mapBflStatus(body, task.taskId, tolerance, task.costUsd);
    const check = async (signal: AbortSignal): Promise<PollStep<ResultInfo>> => {
      const req: HttpRequest = {
        ctx,
        phase: 'poll',
        method: 'GET',
        url: pollingUrl,
        headers: { 'x-key': key },
        signal,
        taskId: task.taskId,
        timeoutMs: settings.requestTimeoutMs,
      };
      const res = await requestJson(req);
      if (res.status < 200 || res.status > 299) {
        throw statusError(req, res.status, readBflError(res.body, res.text), retryAfter(res.headers));
      }
      return toStep(res.body);
    };
    return waitAndDownload({
      ctx,
      task,
      options,
      settings,
      check,
      pushed: receiver?.subscribe('bfl', task.taskId, toStep),
      ...(opts.resultTtlMs !== undefined ? { resultTtlMs: opts.resultTtlMs } : {}),
    });
  }

  /** GET /v1/credits (free): the account's balance, 1 credit = $0.01 (providers.md). */
  async function balanceUsd(signal: AbortSignal): Promise<number | undefined> {
    const key = requireKey(ctx, opts.apiKey);
    const req: HttpRequest = { ctx, phase: 'poll', method: 'GET', url: joinUrl(baseUrl, '/v1/credits'), headers: { 'x-key': key }, signal, timeoutMs: 10_000 };
    const res = await requestJson(req);
    if (res.status < 200 || res.status > 299) throw statusError(req, res.status, readBflError(res.body, res.text), retryAfter(res.headers));
    const credits = isRecord(res.body) ? res.body.credits : undefined;
    return creditsToUsd(credits, 0.01);
  }

  return { id: 'bfl', title: 'Black Forest Labs', capabilities, submit, wait, balanceUsd };

  function mapBflStatus(body: unknown, taskId: string, tolerance: number, costUsd: number | undefined): PollStep<ResultInfo> {
    const parsed = ResultResponse.safeParse(body);
    const details = { provider: 'bfl', taskId, retryable: false };
    if (!parsed.success) {
      throw new EngineError('provider_failed', `BFL: unexpected status response for task ${taskId}`, { ...details, retryable: true });
    }
    const { status, result, progress } = parsed.data;
    const reasons = moderationReasons(parsed.data.details, ctx.secrets) ?? topLevelReason(parsed.data.error, parsed.data.message, ctx.secrets);
    switch (status) {
      case 'Ready': {
        const sample = result?.sample;
        if (!sample) return failed(new EngineError('provider_failed', `BFL: task ${taskId} is Ready but has no result.sample`, details));
        const seed = result?.seed ?? undefined;
        return { state: 'done', value: { url: sample, ...(seed !== undefined ? { seed } : {}), ...(costUsd !== undefined ? { costUsd } : {}) } };
      }
      case 'Request Moderated':
      case 'Content Moderated': {
        const what = status === 'Request Moderated' ? 'the prompt or a reference image was flagged before generation' : 'the generated image was flagged';
        const hint =
          tolerance < 5
            ? `try raising safetyTolerance (now ${tolerance}, up to 5) or rewording the prompt`
            : 'safetyTolerance is already at its maximum (5); reword the prompt or change the references';
        return failed(
          new EngineError('moderated', `BFL: ${status}: ${what}${reasons ? ` (${reasons})` : ''}; nothing was charged; ${hint}`, {
            ...details,
            status,
            ...(reasons ? { reasons } : {}),
          }),
        );
      }
      case 'Error':
      case 'Failed':
        return failed(
          new EngineError('provider_failed', `BFL: task ${taskId} failed${reasons ? `: ${reasons}` : ''}`, { ...details, status }),
        );
      case 'Task not found':
        return failed(new EngineError('task_not_found', `BFL: task ${taskId} is unknown or expired ("Task not found")`, details));
      default:
        return { state: 'pending', status, ...(typeof progress === 'number' ? { progress } : {}) };
    }
  }
}

function retryAfter(headers: Headers): { retryAfterSec?: number } {
  const s = retryAfterSec(headers);
  return s === undefined ? {} : { retryAfterSec: s };
}

/** `{error, message}` beside `status` (webhook payloads): the message, with the error code if it adds something. */
function topLevelReason(error: unknown, message: unknown, secrets: readonly string[]): string | undefined {
  const parts = [error, message].filter((p): p is string => typeof p === 'string' && p.trim() !== '');
  const unique = parts.filter((p, i) => parts.indexOf(p) === i);
  return unique.length ? scrub(clip(unique.join(': '), 200), secrets) : undefined;
}

function moderationReasons(details: unknown, secrets: readonly string[]): string | undefined {
  if (details === null || details === undefined) return undefined;
  let text: string;
  if (isRecord(details)) {
    const r = details['Moderation Reasons'] ?? details.reasons ?? details.error ?? details.message;
    text = Array.isArray(r) ? r.map(String).join(', ') : r !== undefined ? String(r) : JSON.stringify(details);
  } else text = String(details);
  return text ? scrub(clip(text, 200), secrets) : undefined;
}
