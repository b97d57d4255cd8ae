/**
 * One shape for the task-style APIs of kie.ai, novita.ai and crun.ai (issue 10): POST a JSON body
 * with the key in a header, read a task id, GET a status path until the status map says the task
 * ended, read the result URL and download it at once. The three differ in names only, so each is a
 * `TaskApi` table (paths, auth header, field mapping, status map, error map) handed to
 * `createTaskApiProvider`, and a fix to the shape is made here, once. A fifth such provider is one
 * short file. BFL, with its polling URL and signed webhooks, keeps its own adapter (bfl.ts).
 */
import { EngineError, type ErrorCode } from '../core/errors';
import type { ImageAsset } from '../core/ports';
import type { ImageRequest, ModelId, Provider, ProviderCapabilities, SubmitOptions, TaskRef, UploadedReference, WaitOptions } from '../core/provider';
import type { CallbackVerifier } from './callbacks';
import { checkTask, failed, makeContext, referenceUrls, requireKey, resolvePoll, unsupportedModel, waitAndDownload, type AdapterOptions, type ResultInfo } from './common';
import { clip, isRecord, joinUrl, requestJson, retryAfterSec, scrub, shapeError, statusError, type ErrorBodyInfo, type HttpRequest, type JsonResponse, type ProviderContext } from './http';
import type { PollStep } from './poll';

/** A task record in the engine's words: the output of a provider's field mapping. */
export interface TaskRecord {
  /** The provider's status string; undefined when the answer holds no task record at all. */
  status?: string;
  url?: string;
  /** Lifetime of `url` in seconds, where the provider publishes it. */
  urlTtlSec?: number;
  seed?: number;
  /** Why the task failed, in the provider's words. */
  failure?: string;
  /** 0..1 */
  progress?: number;
}

/** A provider code (HTTP status or body `code`) or a named reason with a meaning of its own. */
export interface ErrorRule {
  code: ErrorCode;
  /** The message after the provider's title; `said` is the provider's own text, scrubbed ('' when none). */
  message(said: string, taskId: string | undefined): string;
  retryable: boolean;
}

/** What an error body holds: a message, maybe the refused parameter, maybe a named reason (novita). */
export type ErrorRead = ErrorBodyInfo & { reason?: string };

/** The per-provider table. */
export interface TaskApi {
  id: string;
  title: string;
  /** Env var of the key, named in auth errors. */
  keyEnv: string;
  defaultBaseUrl: string;
  capabilities: ProviderCapabilities;
  /** Headers that carry the key. */
  auth(key: string): Record<string, string>;
  paths: {
    /** Path of the submit for a wire model name. */
    submit(model: string): string;
    /** Path (with query) of the status request of a task. */
    status(taskId: string): string;
  };
  /** The provider's name for a model, or undefined when it has no such model. */
  model(model: ModelId, hasReferences: boolean): string | undefined;
  /** Field mapping of a request to the submit body; the references are public URLs by now. */
  body(request: ImageRequest, urls: string[]): Record<string, unknown>;
  /** Puts the completion callback URL where the provider reads it. */
  withCallback(body: Record<string, unknown>, url: string): void;
  /** The task id in a submit answer. */
  taskId(answer: unknown): string | undefined;
  /** Where the task record sits in a status answer and in a callback body. */
  record: { status(answer: unknown): unknown; callback(body: unknown): unknown };
  /** Field mapping of a task record. */
  read(record: unknown): TaskRecord;
  /** Status map: the statuses that end a task; any other status is pending. */
  terminal: Record<string, 'done' | 'failed'>;
  /** Failure texts that mean moderation rather than a failed generation. */
  moderation: RegExp;
  errors: {
    /** The error may sit in a body `code` under HTTP 200 (kie, crun [U]): then both are read. */
    bodyCode: boolean;
    read(body: unknown, text: string): ErrorRead;
    /** Codes with a meaning beyond HTTP's (kie and crun's 455, 501, 505). */
    codes?: Record<number, ErrorRule>;
    /** Named reasons (novita's `reason`), tested before the codes. */
    reasons?: Record<string, ErrorRule>;
    /** A refusal the reason names only in words (novita's low balance without a reason). */
    fallback?(status: number, info: ErrorRead): ErrorRule | undefined;
  };
  /** Reads the task id of a callback and checks its signature (unsigned ones only nudge the poller). */
  verifier: CallbackVerifier;
  /** Values to scrub from errors besides the key (kie's webhook HMAC key). */
  secrets?: string[];
  /** A request the provider would refuse, caught before anything is sent (kie's prompt length). */
  refuse?(request: ImageRequest): EngineError | undefined;
  /** Plain data a task keeps for waiting on it (crun: what the input echo must hold). */
  taskExtra?(request: ImageRequest, urls: string[]): Record<string, unknown> | undefined;
  /** A record that is not what its status says (crun accepted the task without its references). */
  inspect?(record: unknown, task: TaskRef): string | undefined;
  /** The provider's free file upload (kie.ai), which turns a local image into a URL it accepts. */
  upload?: Upload;
}

/** A provider's file upload API, given the adapter's context and key. */
export type Upload = (
  image: { bytes: Buffer; mime: ImageAsset['mime']; hash: string },
  io: { ctx: ProviderContext; key: string; signal: AbortSignal; ensureOk(req: HttpRequest, res: JsonResponse): void },
) => Promise<UploadedReference>;

/** The adapter of a task-style API. */
export function createTaskApiProvider(api: TaskApi, opts: AdapterOptions): Provider {
  const ctx = makeContext(api.id, api.title, api.keyEnv, { ...opts, secrets: [...(opts.secrets ?? []), ...(api.secrets ?? [])] });
  const baseUrl = (opts.baseUrl ?? api.defaultBaseUrl).replace(/\/+$/, '');
  const settings = resolvePoll(opts);
  const receiver = opts.callbacks;
  receiver?.register(api.id, api.verifier);

  /** Non-2xx HTTP, or (kie, crun) HTTP 200 with an error `code` in the body. */
  function ensureOk(req: HttpRequest, res: JsonResponse): void {
    const httpOk = res.status >= 200 && res.status <= 299;
    const bodyCode = api.errors.bodyCode && isRecord(res.body) && typeof res.body.code === 'number' ? res.body.code : undefined;
    if (httpOk && (bodyCode === undefined || bodyCode === 200)) return;
    const code = httpOk ? bodyCode! : res.status;
    const info = api.errors.read(res.body, res.text);
    const ra = retryAfterSec(res.headers);
    const extra = { ...(ra !== undefined ? { retryAfterSec: ra } : {}), ...(api.errors.bodyCode ? { providerCode: code } : {}), ...(info.reason ? { reason: info.reason } : {}) };
    const rule = (info.reason ? api.errors.reasons?.[info.reason] : undefined) ?? api.errors.codes?.[code] ?? api.errors.fallback?.(code, info);
    if (!rule) throw statusError(req, code, info, extra);
    const said = info.message ? scrub(clip(info.message), ctx.secrets) : '';
    throw new EngineError(rule.code, `${api.title}${rule.message(said, req.taskId)}`, {
      provider: api.id,
      ...(req.taskId ? { taskId: req.taskId } : {}),
      ...(api.errors.bodyCode ? {} : { httpStatus: res.status }),
      phase: req.phase,
      ...extra,
      retryable: rule.retryable,
    });
  }

  async function submit(request: ImageRequest, options: SubmitOptions): Promise<TaskRef> {
    const key = requireKey(ctx, opts.apiKey);
    const model = api.model(request.model, request.references.length > 0);
    if (!model || !api.capabilities.models.includes(request.model)) throw unsupportedModel(ctx, request.model, api.capabilities.models);
    const refused = api.refuse?.(request);
    if (refused) throw refused;
    const urls = referenceUrls(ctx, request.references, api.capabilities.maxReferences);
    const body = api.body(request, urls);
    const callbackUrl = options.callbackUrl ?? receiver?.urlFor(api.id);
    if (callbackUrl) api.withCallback(body, callbackUrl);
    const req: HttpRequest = {
      ctx,
      phase: 'submit',
      method: 'POST',
      url: joinUrl(baseUrl, api.paths.submit(model)),
      headers: api.auth(key),
      json: body,
      signal: options.signal,
      timeoutMs: opts.submitTimeoutMs,
    };
    const res = await requestJson(req);
    ensureOk(req, res);
    const taskId = api.taskId(res.body);
    if (!taskId) throw shapeError(req, 'no task id in the submit answer');
    const extra = api.taskExtra?.(request, urls);
    return {
      provider: api.id,
      model: request.model,
      taskId,
      submittedAt: Date.now(),
      ...(request.seed !== undefined && api.capabilities.honours[request.model]?.includes('seed') ? { seed: request.seed } : {}),
      ...(extra ? { extra } : {}),
    };
  }

  /** The status map applied to one record (from a status answer or a verified callback). */
  function toStep(record: unknown, task: TaskRef): PollStep<ResultInfo> {
    const taskId = task.taskId;
    const details = { provider: api.id, taskId, retryable: false };
    const r = api.read(record);
    if (!r.status) throw new EngineError('provider_failed', `${api.title}: unexpected status answer for task ${taskId}`, { ...details, retryable: true });
    const wrong = api.inspect?.(record, task);
    if (wrong) return failed(new EngineError('provider_rejected', wrong, { ...details, param: 'references' }));
    const end = api.terminal[r.status];
    if (end === 'done') {
      if (!r.url) return failed(new EngineError('provider_failed', `${api.title}: task ${taskId} succeeded without a result URL`, details));
      return { state: 'done', value: { url: r.url, ...(r.urlTtlSec !== undefined ? { urlTtlSec: r.urlTtlSec } : {}), ...(r.seed !== undefined ? { seed: r.seed } : {}) } };
    }
    if (end === 'failed') {
      const why = r.failure ? scrub(clip(r.failure, 200), ctx.secrets) : '';
      if (api.moderation.test(why)) {
        return failed(new EngineError('moderated', `${api.title}: task ${taskId} was moderated (${why}); nothing usable was produced; reword the prompt or change the references`, details));
      }
      return failed(new EngineError('provider_failed', `${api.title}: task ${taskId} failed${why ? ` (${why})` : ''}`, details));
    }
    return { state: 'pending', status: r.status, ...(r.progress !== undefined ? { progress: r.progress } : {}) };
  }

  async function wait(task: TaskRef, options: WaitOptions) {
    checkTask(ctx, task);
    const key = requireKey(ctx, opts.apiKey, task.taskId);
    const check = async (signal: AbortSignal): Promise<PollStep<ResultInfo>> => {
      const req: HttpRequest = {
        ctx,
        phase: 'poll',
        method: 'GET',
        url: joinUrl(baseUrl, api.paths.status(task.taskId)),
        headers: api.auth(key),
        signal,
        taskId: task.taskId,
        timeoutMs: settings.requestTimeoutMs,
      };
      const res = await requestJson(req);
      ensureOk(req, res);
      return toStep(api.record.status(res.body), task);
    };
    return waitAndDownload({
      ctx,
      task,
      options,
      settings,
      check,
      // Verified callbacks settle through the same status map; unsigned ones only nudge the poller.
      pushed: receiver?.subscribe(api.id, task.taskId, (payload) => toStep(api.record.callback(payload), task)),
      ...(opts.resultTtlMs !== undefined ? { resultTtlMs: opts.resultTtlMs } : {}),
    });
  }

  const upload = api.upload;
  return {
    id: api.id,
    title: api.title,
    capabilities: api.capabilities,
    submit,
    wait,
    ...(upload ? { uploadReference: (image, signal) => upload(image, { ctx, key: requireKey(ctx, opts.apiKey), signal, ensureOk }) } : {}),
  };
}

/** kie.ai and crun.ai share a doc template and these codes (providers.md 0, 2.3, 4.3). */
export const MAINTENANCE_CODES: Record<number, ErrorRule> = {
  455: { code: 'provider_failed', retryable: true, message: (said) => ` is unavailable (maintenance, code 455${said ? `: ${said}` : ''}); try again later` },
  505: { code: 'provider_rejected', retryable: false, message: (said) => `: this feature is disabled (code 505${said ? `: ${said}` : ''})` },
  501: { code: 'provider_failed', retryable: false, message: (said) => `: generation failed (code 501${said ? `: ${said}` : ''})` },
};

/** `{code|…, msg|message}` error bodies: the text, and the wire parameter it names. */
export function messageError(params: readonly string[]) {
  return (body: unknown, text: string): ErrorRead => {
    if (isRecord(body)) {
      const message = typeof body.message === 'string' ? body.message : typeof body.msg === 'string' ? body.msg : undefined;
      if (message) return { message, ...paramIn(message, params) };
    }
    return text ? { message: clip(text, 200) } : {};
  };
}

/** The first wire parameter a provider's message names as a word. */
export function paramIn(message: string, params: readonly string[]): { param?: string } {
  const param = params.find((p) => new RegExp(`(^|[^\\w])${p}([^\\w]|$)`).test(message));
  return param ? { param } : {};
}

/** A JSON value that may come as a JSON string (kie's `resultJson`, `param`). */
export function parsedJson(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return undefined;
  }
}

/** A number that may come as a string ("3600", "158881667"); undefined when it is neither. */
export function numeric(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}
