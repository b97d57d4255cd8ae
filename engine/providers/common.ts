/**
 * Pieces every adapter shares: waiting + downloading at once, reference handling, size helpers,
 * the settings an adapter is built with.
 */
import { EngineError } from '../core/errors';
import type { GeneratedImage, ImageRequest, ModelId, ReferenceImage, TaskRef, WaitOptions } from '../core/provider';
import type { CallbackReceiver } from './callbacks';
import { downloadImage, type ProviderContext } from './http';
import { resultUrlExpiry } from './result-expiry';
import { downloadWithRetry } from './download-retry';
import { pollSettings, pollTask, type PollSettings, type PollStep, type PushedSteps } from './poll';
import { LatencyBook } from './poll-schedule';

/** Each adapter's latency record, keyed by its context (one per adapter instance). */
const books = new WeakMap<ProviderContext, LatencyBook>();

/** The latencies observed by the adapter of `ctx`, per model: they time its polls. */
export function latencyBook(ctx: ProviderContext): LatencyBook {
  let book = books.get(ctx);
  if (!book) books.set(ctx, (book = new LatencyBook()));
  return book;
}

/** What every adapter factory accepts. */
export interface AdapterOptions {
  /** Missing: submit and wait fail with `auth`, naming the env var. */
  apiKey?: string;
  /** Defaults to the provider's public API. */
  baseUrl?: string;
  poll?: Partial<PollSettings>;
  /** When set, submits carry this receiver's callback URL and waits listen to it. */
  callbacks?: CallbackReceiver;
  /** Timeout of the submit request, ms. */
  submitTimeoutMs?: number;
  /** Extra values to scrub from errors. */
  secrets?: string[];
  /** How long result URLs stay valid after completion (download retries stop there); settable for tests. */
  resultTtlMs?: number;
}

/** What a finished task says, before the download. */
export interface ResultInfo {
  url: string;
  seed?: number;
  costUsd?: number;
  /** Lifetime of `url` in seconds, when the provider publishes it (novita `image_url_ttl`). */
  urlTtlSec?: number;
}

export function makeContext(id: string, title: string, keyEnv: string, opts: AdapterOptions): ProviderContext {
  const secrets = [opts.apiKey ?? '', ...(opts.secrets ?? [])].filter((s) => s.length > 0);
  return {
    id,
    title,
    keyEnv,
    // BFL_API_KEY → BFL_BASE_URL, the hosts' naming (host/create-providers.ts).
    baseUrlEnv: keyEnv.replace(/_API_KEY$/, '_BASE_URL'),
    get secrets() {
      return [...secrets, ...(opts.callbacks?.allSecrets() ?? [])];
    },
  };
}

export function requireKey(ctx: ProviderContext, apiKey: string | undefined, taskId?: string): string {
  if (apiKey) return apiKey;
  throw new EngineError('auth', `${ctx.title}: no API key; set ${ctx.keyEnv} (in the environment or a .env file)`, {
    provider: ctx.id,
    retryable: false,
    ...(taskId ? { taskId } : {}),
  });
}

export function checkTask(ctx: ProviderContext, task: TaskRef): void {
  if (task.provider !== ctx.id || typeof task.taskId !== 'string' || !task.taskId) {
    throw new EngineError('internal', `${ctx.title}: cannot wait on a task of provider "${String(task.provider)}"`, { provider: ctx.id });
  }
}

export function unsupportedModel(ctx: ProviderContext, model: ModelId, models: readonly ModelId[]): EngineError {
  return new EngineError('unsupported_model', `${ctx.title} has no FLUX.2 [${model}] model; it offers ${models.map((m) => `[${m}]`).join(', ')}`, {
    provider: ctx.id,
    model,
    param: 'model',
    retryable: false,
  });
}

export function tooManyReferences(ctx: ProviderContext, count: number, max: number): EngineError {
  return new EngineError('unsupported_param', `${ctx.title} takes at most ${max} reference images, got ${count}`, {
    provider: ctx.id,
    param: 'references',
    retryable: false,
  });
}

/** Public URLs of the references, for providers that only take URLs. Never sends a local path. */
export function referenceUrls(ctx: ProviderContext, refs: readonly ReferenceImage[], max: number): string[] {
  if (refs.length > max) throw tooManyReferences(ctx, refs.length, max);
  return refs.map((ref, i) => {
    if (ref.url && /^https?:\/\//i.test(ref.url)) return ref.url;
    const name = ref.asset.meta?.source ? ` ("${ref.asset.meta.source}")` : '';
    throw new EngineError(
      'needs_public_url',
      `${ctx.title} only accepts reference images as public http(s) URLs; reference ${i + 1}${name} is a local file. Give its URL instead, or use a provider that takes image bytes (bfl)`,
      { provider: ctx.id, param: 'references', item: i, retryable: false },
    );
  });
}

/** A poll step that ended in failure. */
export function failed<T>(error: EngineError): PollStep<T> {
  return { state: 'failed', error };
}

/**
 * Polls a task, then downloads its image at once. If the result URL has already expired, asks
 * once more: a provider that re-signs URLs gives a fresh one ([U] for BFL).
 */
export async function waitAndDownload(args: {
  ctx: ProviderContext;
  task: TaskRef;
  options: WaitOptions;
  settings: PollSettings;
  check: (signal: AbortSignal) => Promise<PollStep<ResultInfo>>;
  pushed?: PushedSteps<ResultInfo>;
  /** How long a result URL works after the task finished (BFL: 10 minutes); downloads are retried until then. */
  resultTtlMs?: number;
}): Promise<GeneratedImage> {
  try {
    return await pollAndDownload(args);
  } catch (e) {
    throw afterSubmitError(e, args.ctx, args.task.taskId);
  }
}

/**
 * Errors out of `wait` concern a task that exists and may be paid for: never `retryable` (that
 * would mean submitting again), but `resumable` when waiting again later may still succeed; the
 * message names the task id so the user can look it up.
 */
export function afterSubmitError(e: unknown, ctx: ProviderContext, taskId: string): unknown {
  if (!(e instanceof EngineError) || e.code === 'aborted') return e;
  const resumable = e.details.retryable === true || e.code === 'timeout';
  const message = e.message.includes(taskId) ? e.message : `${e.message} (task ${taskId})`;
  return new EngineError(
    e.code,
    message,
    { ...e.details, provider: e.details.provider ?? ctx.id, taskId, retryable: false, ...(resumable ? { resumable: true } : {}) },
    { cause: e.cause ?? e },
  );
}

async function pollAndDownload(args: Parameters<typeof waitAndDownload>[0]): Promise<GeneratedImage> {
  const { ctx, task, options, settings } = args;
  const started = Date.now();
  const info = await pollTask<ResultInfo>({
    provider: ctx.id,
    title: ctx.title,
    taskId: task.taskId,
    check: args.check,
    signal: options.signal,
    settings,
    timeoutMs: options.timeoutMs,
    onProgress: options.onProgress,
    pushed: args.pushed,
    ...(Number.isFinite(task.submittedAt) ? { submittedAt: task.submittedAt } : {}),
    latency: { book: latencyBook(ctx), model: task.model },
  });
  // Retried until the task's deadline or the result URL's expiry, whichever is first.
  const urlExpires = args.resultTtlMs !== undefined ? Date.now() + args.resultTtlMs : resultUrlExpiry(info.url, Date.now(), info.urlTtlSec);
  const deadline = Math.min(started + (options.timeoutMs ?? settings.timeoutMs), urlExpires);
  const get = (url: string) =>
    downloadWithRetry(() => downloadImage(ctx, url, { signal: options.signal, taskId: task.taskId, timeoutMs: settings.requestTimeoutMs * 4, attempts: 1 }), {
      ...(options.signal ? { signal: options.signal } : {}),
      deadline,
      baseDelayMs: settings.intervalMs,
      maxDelayMs: Math.max(settings.maxIntervalMs, settings.intervalMs),
      maxRetryAfterMs: settings.maxRetryAfterMs,
      // The reason and the attempt, never a bare "retrying".
      onRetry: (attempt, waitMs, e) => options.onProgress?.(1, `download retrying in ${waitMs < 1000 ? `${Math.round(waitMs)} ms` : `${Math.round(waitMs / 1000)} s`} (attempt ${attempt + 1}): ${downloadReason(e)}`),
    });
  let url = info.url;
  let image: Pick<GeneratedImage, 'bytes' | 'mime' | 'sha256'>;
  try {
    image = await get(url);
  } catch (e) {
    if (!(e instanceof EngineError) || e.code !== 'result_expired') throw e;
    const again = await args.check(options.signal).catch(() => undefined);
    if (!again || again.state !== 'done' || again.value.url === url) throw e;
    url = again.value.url;
    image = await get(url);
  }
  options.onProgress?.(1, 'downloaded');
  const seed = info.seed ?? task.seed;
  const costUsd = info.costUsd ?? task.costUsd;
  const resultExpiresAt = resultUrlExpiry(url, Date.now(), url === info.url ? info.urlTtlSec : undefined);
  return { ...image, ...(seed !== undefined ? { seed } : {}), ...(costUsd !== undefined ? { costUsd } : {}), resultUrl: url, resultExpiresAt };
}

/** "HTTP 503", "ECONNRESET", or the error's code: why a download is tried again. */
function downloadReason(e: EngineError): string {
  if (typeof e.details.httpStatus === 'number') return `HTTP ${e.details.httpStatus}`;
  if (typeof e.details.errno === 'string') return e.details.errno;
  return e.code.replace(/_/g, ' ');
}

export function resolvePoll(opts: AdapterOptions): PollSettings {
  return pollSettings(opts.poll);
}

/** Nearest multiple of `step`, at least `min`. */
export function roundTo(n: number, step: number, min = step): number {
  return Math.max(min, Math.round(n / step) * step);
}

/** `wanted` size both given, or one side mirrored, or undefined. */
export function wantedSize(req: Pick<ImageRequest, 'width' | 'height'>): { width: number; height: number } | undefined {
  if (req.width === undefined && req.height === undefined) return undefined;
  const width = req.width ?? req.height!;
  const height = req.height ?? req.width!;
  return { width, height };
}

/** Aspect ratio + 1K/2K tiers (kie, crun). */
export const ASPECT_RATIOS = ['1:1', '4:3', '3:4', '16:9', '9:16', '3:2', '2:3'] as const;
export type AspectRatio = (typeof ASPECT_RATIOS)[number];

export function ratioTier(width: number, height: number): { aspectRatio: AspectRatio; resolution: '1K' | '2K'; width: number; height: number } {
  const want = Math.log(width / height);
  let best: AspectRatio = '1:1';
  let bestDist = Infinity;
  for (const r of ASPECT_RATIOS) {
    const [a, b] = r.split(':').map(Number);
    const d = Math.abs(Math.log(a / b) - want);
    if (d < bestDist) {
      bestDist = d;
      best = r;
    }
  }
  // 2 MP is the geometric middle of the 1K (1 MP) and 2K (4 MP) tiers.
  const resolution = width * height > 2 * 1024 * 1024 ? '2K' : '1K';
  const side = resolution === '2K' ? 2048 : 1024;
  const [a, b] = best.split(':').map(Number);
  const r = Math.sqrt(a / b);
  return { aspectRatio: best, resolution, width: roundTo(side * r, 16), height: roundTo(side / r, 16) };
}

export function sizeNote(from: { width: number; height: number }, to: { width: number; height: number }, why: string): string | undefined {
  if (from.width === to.width && from.height === to.height) return undefined;
  return `size ${from.width}×${from.height} becomes ${to.width}×${to.height} (${why})`;
}

/** Credits with float noise (7.000000000000001) to USD, 1 credit = $0.01. */
export function creditsToUsd(credits: unknown, usdPerCredit: number): number | undefined {
  if (typeof credits !== 'number' || !Number.isFinite(credits) || credits < 0) return undefined;
  return Math.round(credits * usdPerCredit * 1e6) / 1e6;
}
