/**
 * Black Forest Labs (providers.md section 1): POST /v1/flux-2-{flex,max,pro}, GET /v1/get_result
 * on the other origin (polling_url), GET /v1/credits; `x-key` auth; FastAPI error bodies.
 */
import { randomUUID } from 'node:crypto';
import { bflSignature } from './callbacks';
import { validateBflBody, type BflModel } from './bfl-validate';
import { header, type Reply } from './http';
import { InputImageError, loadImages, type LoadedImage } from './inputs';
import { bflCost } from './pricing';
import { readJson, type HandlerResult, type ProviderProtocol, type RequestContext } from './protocol';
import { bflSize } from './sizes';
import type { CallbackBuilder } from './state';
import { taskPhase, type EmulatedTask, type TaskPhase } from './tasks';

const MODELS: Record<string, BflModel> = {
  'flux-2-flex': 'flex',
  'flux-2-max': 'max',
  'flux-2-pro': 'pro',
  'flux-2-pro-preview': 'pro',
};

/** Per-image limit: none is documented; 20 MB is what resellers quote [U]. */
const MAX_INPUT_BYTES = 20 * 1024 * 1024;

const detail = (status: number, text: string, headers?: Record<string, string>): Reply => ({ status, body: { detail: text }, headers });

function authFailure(reason: 'missing' | 'invalid'): Reply {
  return detail(403, reason === 'missing' ? 'Not authenticated' : 'Not authenticated - Invalid Authentication');
}

function authorize(ctx: RequestContext): { key: string } | { reply: Reply } {
  const auth = ctx.state.authorize(header(ctx.req, 'x-key')?.trim());
  return auth.ok ? { key: auth.key } : { reply: authFailure(auth.reason) };
}

/** Max and pro always rewrite the prompt (recorded traffic); flex only with prompt_upsampling. */
export function upsamplePrompt(prompt: string): string {
  return `${prompt.trim()}. Rendered with a balanced composition, natural light and fine, crisp detail.`;
}

async function submit(ctx: RequestContext): Promise<HandlerResult> {
  const { state } = ctx;
  const auth = authorize(ctx);
  if ('reply' in auth) return auth.reply;
  const slug = ctx.url.pathname.slice('/v1/'.length);
  const model = MODELS[slug];
  const json = await readJson(
    ctx,
    (error, position) => ({
      status: 422,
      body: { detail: [{ type: 'json_invalid', loc: ['body', position], msg: 'JSON decode error', input: {}, ctx: { error } }] },
    }),
    () => detail(413, 'Request Entity Too Large'),
  );
  if (!json.ok) return json.reply;
  const checked = validateBflBody(json.value, model);
  if (!checked.ok) return { status: 422, body: { detail: checked.issues } };
  const input = checked.value;

  let images: LoadedImage[];
  try {
    images = await loadImages(
      input.inputImages.map((i) => i.value),
      { allowBase64: true, maxBytes: MAX_INPUT_BYTES },
    );
  } catch (e) {
    if (e instanceof InputImageError) return detail(400, `Invalid input image: ${e.message}`);
    throw e;
  }
  const size = bflSize(input.width, input.height, images[0]);
  const price = bflCost(model, size, images);
  const admission = state.admit('bfl', auth.key, price.cost, input.prompt);
  if (!admission.ok) {
    if (admission.reason === 'cap') {
      return detail(429, `You have reached the limit of ${admission.cap} active tasks. Wait for a running task to finish before submitting more.`);
    }
    return detail(402, `Insufficient credits: this request costs ${price.cost} credits and your balance is ${admission.balance}.`);
  }
  const upsample = model === 'flex' ? input.promptUpsampling !== false : input.disablePup !== true;
  const id = randomUUID();
  const task = state.createTask({
    id,
    provider: 'bfl',
    model: slug,
    family: model,
    key: auth.key,
    path: ctx.url.pathname,
    body: json.value,
    outcome: admission.outcome,
    prompt: input.prompt,
    resultPrompt: upsample ? upsamplePrompt(input.prompt) : input.prompt,
    seed: input.seed ?? state.randomSeed(),
    width: size.width,
    height: size.height,
    format: input.outputFormat,
    inputs: images,
    price: price.cost,
    callback: input.webhookUrl ? { url: input.webhookUrl, secret: input.webhookSecret } : undefined,
    buildCallback: buildBflCallback(ctx),
  });
  if (admission.dropAfterAccept) return state.dropAccepted(ctx.res);
  const pollingUrl = `${state.pollBaseUrl}/v1/get_result?id=${id}`;
  // AsyncWebhookResponse requires only id/status/webhook_url; whether BFL adds polling_url is [U].
  const omit = input.webhookUrl !== undefined && state.options.bflWebhookPollingUrl === 'omit';
  // (Set on the task itself: a status lookup here would count as a poll of the "not found" fault.)
  if (omit) task.meta.pollOnSubmitHost = true;
  const body = input.webhookUrl
    ? { id, status: 'Pending', webhook_url: input.webhookUrl, ...(omit ? {} : { polling_url: pollingUrl }), ...price }
    : { id, polling_url: pollingUrl, ...price };
  return { status: 200, body };
}

function resultBody(ctx: RequestContext, task: EmulatedTask, phase: TaskPhase) {
  const base = { id: task.id, status: 'Pending', result: null, progress: null, details: null, preview: null };
  if (phase.state === 'pending') return base;
  switch (phase.outcome) {
    case 'ready': {
      const sample = ctx.state.resultUrl(task, phase.completedAt, 'sample');
      const start = task.createdAt / 1000;
      const end = phase.completedAt / 1000;
      return {
        ...base,
        status: 'Ready',
        result: { start_time: start, end_time: end, duration: end - start, prompt: task.resultPrompt, seed: task.seed, sample },
      };
    }
    case 'request_moderated':
      return { ...base, status: 'Request Moderated', details: { 'Moderation Reasons': ['Derivative Works Filter: the prompt or input image was flagged'] } };
    case 'content_moderated':
      return { ...base, status: 'Content Moderated', details: { 'Moderation Reasons': ['Content Moderated: the generated image was flagged'] } };
    case 'failed':
      return { ...base, status: 'Error', details: { error: phase.reason ?? 'Internal error during generation' } };
  }
}

async function getResult(ctx: RequestContext): Promise<HandlerResult> {
  const { state } = ctx;
  const auth = authorize(ctx);
  if ('reply' in auth) return auth.reply;
  const id = ctx.url.searchParams.get('id');
  if (id === null) {
    return { status: 422, body: { detail: [{ type: 'missing', loc: ['query', 'id'], msg: 'Field required', input: null }] } };
  }
  const now = state.now();
  const headers = {
    'x-ratelimit-limit': '1200',
    'x-ratelimit-remaining': '1199',
    'x-ratelimit-reset': String(now / 1000 + 1),
  };
  const notFound = { id, status: 'Task not found', result: null, progress: null, details: null, preview: null };
  const notFoundStatus = state.options.bflNotFoundStatus ?? 200;
  const task = state.tasks.get('bfl', id, now);
  // The task lives on the polling cluster; a client that rebuilt the URL on the submit host loses
  // it, unless no polling_url was given (then the submit host is where it is asked for).
  if (ctx.origin === 'submit' && state.options.strictPollingHost && task?.meta.pollOnSubmitHost !== true) return { status: notFoundStatus, body: notFound, headers: { ...headers, 'retry-after': '0' } };
  if (!task || task.key !== auth.key) return { status: notFoundStatus, body: notFound, headers: { ...headers, 'retry-after': '0' } };
  const phase = taskPhase(task, now);
  return { status: 200, body: resultBody(ctx, task, phase), headers: { ...headers, 'retry-after': phase.state === 'pending' ? '1' : '0' } };
}

async function credits(ctx: RequestContext): Promise<HandlerResult> {
  const auth = authorize(ctx);
  if ('reply' in auth) return auth.reply;
  return { status: 200, body: { credits: ctx.state.balance('bfl', auth.key) } };
}

/** `{id, status, result:{sample,prompt,seed}, timestamp}` or an error body, signed when a secret was given. */
function buildBflCallback(ctx: RequestContext): CallbackBuilder {
  return (task, phase, badSignature) => {
    const timestamp = Math.floor(Date.now() / 1000);
    const body =
      phase.outcome === 'ready'
        ? { id: task.id, status: 'Ready', result: { sample: ctx.state.resultUrl(task, phase.completedAt, 'sample'), prompt: task.resultPrompt, seed: task.seed }, timestamp }
        : {
            id: task.id,
            status: phase.outcome === 'failed' ? 'Error' : phase.outcome === 'request_moderated' ? 'Request Moderated' : 'Content Moderated',
            error: phase.outcome,
            message: phase.reason ?? (phase.outcome === 'failed' ? 'Internal error during generation' : 'The request was moderated'),
            timestamp,
          };
    const raw = JSON.stringify(body);
    const headers: Record<string, string> = {};
    const secret = task.callback?.secret;
    if (secret) headers[ctx.state.options.bflSignatureHeader] = bflSignature(badSignature ? `${secret}-wrong` : secret, raw);
    return { provider: 'bfl', url: task.callback!.url, body: raw, headers };
  };
}

export const bflProtocol: ProviderProtocol = {
  name: 'bfl',
  routes: [
    { method: 'POST', path: /^\/v1\/flux-2-(flex|max|pro|pro-preview)$/, phase: 'submit', handle: submit },
    { method: 'GET', path: '/v1/get_result', phase: 'poll', handle: getResult },
    { method: 'GET', path: '/v1/credits', phase: 'poll', handle: credits },
  ],
  ownsPath: (p) => p.startsWith('/v1/'),
  notFound: () => detail(404, 'Not Found'),
  methodNotAllowed: () => detail(405, 'Method Not Allowed'),
  rateLimited: (sec) => detail(429, `Rate limit exceeded. Please retry after ${sec} seconds.`, { 'retry-after': String(sec) }),
  serverError: (status) => detail(status, status === 503 ? 'Service temporarily unavailable' : 'Internal Server Error'),
};
