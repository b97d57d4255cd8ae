/**
 * novita.ai (providers.md section 3): POST /v3/async/flux-2-{flex,pro,dev}, GET
 * /v3/async/task-result; Bearer auth; errors `{code, reason, message, metadata}` with real HTTP status.
 */
import { randomUUID } from 'node:crypto';
import { bearerToken, isPlainObject, type Reply } from './http';
import { InputImageError, isHttpUrl, loadImages, type LoadedImage } from './inputs';
import { bflCost } from './pricing';
import { readJson, type HandlerResult, type ProviderProtocol, type RequestContext } from './protocol';
import { DEFAULT_SIDE, fitWithin, parseStarSize, type Size } from './sizes';
import type { CallbackBuilder, EmulatorState } from './state';
import { taskPhase, type EmulatedTask, type TaskPhase } from './tasks';
import type { ImageFormat } from './types';

const MIN_SIDE = 256;
const MAX_SIDE = 1536;
const MAX_SEED = 2147483647;
const MAX_INPUT_BYTES = 10 * 1024 * 1024;
const FORMATS: ImageFormat[] = ['jpeg', 'png', 'webp'];

export function novitaError(status: number, reason: string, message: string, headers?: Record<string, string>): Reply {
  return { status, body: { code: status, reason, message, metadata: {} }, headers };
}

const invalid = (message: string) => novitaError(400, 'INVALID_REQUEST_BODY', message);

function authorize(ctx: RequestContext): { key: string } | { reply: Reply } {
  const auth = ctx.state.authorize(bearerToken(ctx.req));
  if (auth.ok) return { key: auth.key };
  return {
    reply: auth.reason === 'missing' ? novitaError(400, 'MISSING_API_KEY', 'API key is required') : novitaError(403, 'INVALID_API_KEY', 'Invalid API key'),
  };
}

interface NovitaInput {
  prompt: string;
  seed?: number;
  size?: Size;
  images: string[];
  format: ImageFormat;
  webhookUrl?: string;
}

function validate(body: unknown): { ok: true; value: NovitaInput } | { ok: false; reply: Reply } {
  const fail = (message: string) => ({ ok: false as const, reply: invalid(message) });
  if (!isPlainObject(body)) return fail('request body must be a JSON object');
  const { prompt, seed, size, images, extra } = body;
  if (typeof prompt !== 'string' || prompt.trim() === '') return fail('prompt is required');
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed) || seed < -1 || seed > MAX_SEED)) {
    return fail(`seed must be an integer between -1 and ${MAX_SEED}`);
  }
  let parsedSize: Size | undefined;
  if (size !== undefined) {
    parsedSize = typeof size === 'string' ? (parseStarSize(size) ?? undefined) : undefined;
    if (!parsedSize) return fail('size must be a string "W*H", e.g. "1024*1024"');
    const sides = [parsedSize.width, parsedSize.height];
    if (sides.some((s) => s < MIN_SIDE || s > MAX_SIDE)) return fail(`size: width and height must be between ${MIN_SIDE} and ${MAX_SIDE}, got ${size}`);
  }
  if (images !== undefined && (!Array.isArray(images) || !images.every((i) => typeof i === 'string'))) return fail('images must be an array of image URLs');
  const list = (images as string[] | undefined) ?? [];
  if (list.length > 3) return fail(`images accepts at most 3 items, got ${list.length}`);
  let format: ImageFormat = 'jpeg';
  let webhookUrl: string | undefined;
  if (extra !== undefined) {
    if (!isPlainObject(extra)) return fail('extra must be an object');
    const type = extra.response_image_type;
    if (type !== undefined) {
      if (typeof type !== 'string' || !FORMATS.includes(type as ImageFormat)) return fail(`extra.response_image_type must be one of ${FORMATS.join(', ')}`);
      format = type as ImageFormat;
    }
    const webhook = extra.webhook;
    if (webhook !== undefined) {
      if (!isPlainObject(webhook) || typeof webhook.url !== 'string' || !isHttpUrl(webhook.url)) return fail('extra.webhook.url must be an http(s) URL');
      webhookUrl = webhook.url;
    }
  }
  return { ok: true, value: { prompt, seed: seed as number | undefined, size: parsedSize, images: list, format, webhookUrl } };
}

async function submit(ctx: RequestContext): Promise<HandlerResult> {
  const { state } = ctx;
  const auth = authorize(ctx);
  if ('reply' in auth) return auth.reply;
  const json = await readJson(
    ctx,
    (error) => invalid(`request body is not valid JSON: ${error}`),
    () => invalid('request body too large'),
  );
  if (!json.ok) return json.reply;
  const checked = validate(json.value);
  if (!checked.ok) return checked.reply;
  const input = checked.value;
  let images: LoadedImage[];
  try {
    images = await loadImages(input.images, { allowBase64: true, maxBytes: MAX_INPUT_BYTES });
  } catch (e) {
    if (!(e instanceof InputImageError)) throw e;
    return e.kind === 'too_large'
      ? novitaError(400, 'IMAGE_FILE_EXCEEDS_MAX_SIZE', e.message)
      : novitaError(400, 'INVALID_IMAGE_FORMAT', e.message);
  }
  // Default size is undocumented [U]: 1024² for text-to-image, the input's size (within range) for edits.
  const size = input.size ?? (images[0] ? fitWithin(images[0], MIN_SIDE, MAX_SIDE) : { width: DEFAULT_SIDE, height: DEFAULT_SIDE });
  const family = ctx.url.pathname.slice('/v3/async/flux-2-'.length);
  // novita's FLUX.2 prices are not in the sources; BFL's table stands in for the balance [I].
  const price = bflCost(family === 'pro' ? 'pro' : 'flex', size, images).cost;
  const admission = state.admit('novita', auth.key, price, input.prompt);
  if (!admission.ok) {
    return admission.reason === 'cap'
      ? novitaError(429, 'RATE_LIMIT_EXCEEDED', `too many concurrent tasks for this key (limit ${admission.cap})`)
      : novitaError(400, 'BILLING_BALANCE_NOT_ENOUGH', 'Your balance is not enough to complete this request');
  }
  // novita screens prompts synchronously: a flagged prompt never becomes a task.
  if (admission.outcome === 'request_moderated') return novitaError(400, 'ILLEGAL_PROMPT', 'The prompt contains content that violates the usage policy');
  const id = randomUUID();
  state.createTask({
    id,
    provider: 'novita',
    model: `flux-2-${family}`,
    family,
    key: auth.key,
    path: ctx.url.pathname,
    body: json.value,
    outcome: admission.outcome,
    prompt: input.prompt,
    seed: input.seed === undefined || input.seed === -1 ? state.randomSeed() : input.seed,
    width: size.width,
    height: size.height,
    format: input.format,
    inputs: images,
    price,
    callback: input.webhookUrl && state.options.novitaWebhooks !== 'ignore' ? { url: input.webhookUrl } : undefined,
    buildCallback: buildNovitaCallback(state),
    meta: { taskType: images.length > 0 ? 'IMG_TO_IMG' : 'TXT_TO_IMG' },
  });
  if (admission.dropAfterAccept) return state.dropAccepted(ctx.res);
  return { status: 200, body: { task_id: id } };
}

const REASONS = {
  content_moderated: 'ILLEGAL_IMAGE_CONTENT: the generated image was flagged by NSFW detection',
  request_moderated: 'ILLEGAL_PROMPT: the prompt violates the usage policy',
  failed: 'TASK_FAILED: internal error during generation',
};

function statusName(phase: TaskPhase): string {
  if (phase.state === 'terminal') return phase.outcome === 'ready' ? 'TASK_STATUS_SUCCEED' : 'TASK_STATUS_FAILED';
  return phase.fraction < 0.3 ? 'TASK_STATUS_QUEUED' : 'TASK_STATUS_PROCESSING';
}

/** The task-result schema; `ttlAsString` mimics the webhook example, which sends "3600". */
function taskResult(state: EmulatorState, task: EmulatedTask, phase: TaskPhase, ttlAsString = false) {
  const ttl = Math.round(state.resultTtl('novita') / 1000);
  const terminal = phase.state === 'terminal';
  const images =
    terminal && phase.outcome === 'ready'
      ? [{ image_url: state.resultUrl(task, phase.completedAt, 'image'), image_url_ttl: ttlAsString ? String(ttl) : ttl, image_type: task.format, nsfw_detection_result: null }]
      : [];
  const reason = terminal && phase.outcome !== 'ready' ? (phase.reason ?? REASONS[phase.outcome]) : '';
  const remaining = Math.max(0, Math.ceil((task.readyAt - state.now()) / 1000));
  return {
    extra: {
      seed: String(task.seed),
      enable_nsfw_detection: false,
      debug_info: {
        request_info: '',
        submit_time_ms: String(task.createdAt),
        execute_time_ms: terminal ? String(phase.completedAt - task.createdAt) : '',
        complete_time_ms: terminal ? String(phase.completedAt) : '',
      },
    },
    task: {
      task_id: task.id,
      status: statusName(phase),
      reason,
      task_type: task.meta.taskType,
      eta: terminal ? 0 : remaining,
      progress_percent: terminal ? 100 : Math.round((phase.state === 'pending' ? phase.fraction : 1) * 100),
    },
    images,
    videos: [],
    audios: [],
  };
}

async function getTaskResult(ctx: RequestContext): Promise<HandlerResult> {
  const { state } = ctx;
  const auth = authorize(ctx);
  if ('reply' in auth) return auth.reply;
  const id = ctx.url.searchParams.get('task_id');
  if (!id) return invalid('task_id is required');
  const task = state.tasks.get('novita', id, state.now());
  if (!task || task.key !== auth.key) return novitaError(404, 'TASK_NOT_FOUND', `task ${id} not found`);
  return { status: 200, body: taskResult(state, task, taskPhase(task, state.now())) };
}

function buildNovitaCallback(state: EmulatorState): CallbackBuilder {
  return (task, phase) => ({
    provider: 'novita',
    url: task.callback!.url,
    body: JSON.stringify({ event_type: 'ASYNC_TASK_RESULT', payload: taskResult(state, task, phase, true) }),
    headers: {},
  });
}

export const novitaProtocol: ProviderProtocol = {
  name: 'novita',
  routes: [
    { method: 'POST', path: /^\/v3\/async\/flux-2-(flex|pro|dev)$/, phase: 'submit', handle: submit },
    { method: 'GET', path: '/v3/async/task-result', phase: 'poll', handle: getTaskResult },
  ],
  ownsPath: (p) => p.startsWith('/v3/'),
  notFound: () => novitaError(404, 'NOT_FOUND', 'Not Found'),
  methodNotAllowed: () => novitaError(405, 'METHOD_NOT_ALLOWED', 'Method Not Allowed'),
  rateLimited: (sec) => novitaError(429, 'RATE_LIMIT_EXCEEDED', 'Rate limit exceeded, please retry later', { 'retry-after': String(sec) }),
  serverError: (status, _state, phase) =>
    novitaError(status, phase === 'submit' ? 'CREATE_TASK_FAILED' : 'GET_RESULT_FAILED', phase === 'submit' ? 'failed to create task, please retry' : 'failed to get task result, please retry'),
};
