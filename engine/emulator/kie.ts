/**
 * kie.ai market API (providers.md section 2): POST /api/v1/jobs/createTask, GET
 * /api/v1/jobs/recordInfo; Bearer auth; body `code` errors; `param` and `resultJson` as JSON strings.
 */
import { kieSignature } from './callbacks';
import { bearerToken, isPlainObject, type Reply } from './http';
import { InputImageError, isHttpUrl, loadImages, type LoadedImage } from './inputs';
import { kieUploadRoutes } from './kie-upload';
import { kieCredits } from './pricing';
import { codeReply, readJson, type HandlerResult, type ProviderProtocol, type RequestContext } from './protocol';
import { ASPECT_RATIOS, RESOLUTIONS, aspectSize } from './sizes';
import type { CallbackBuilder, EmulatorState } from './state';
import { taskPhase, type EmulatedTask, type TaskPhase } from './tasks';

const MODELS = ['flux-2/flex-text-to-image', 'flux-2/flex-image-to-image', 'flux-2/pro-text-to-image', 'flux-2/pro-image-to-image'];
const MAX_INPUT_BYTES = 10 * 1024 * 1024;

const err = (state: EmulatorState, code: number, msg: string, headers?: Record<string, string>): Reply => codeReply(state, code, { msg }, headers);

function authorize(ctx: RequestContext): { key: string } | { reply: Reply } {
  const auth = ctx.state.authorize(bearerToken(ctx.req));
  return auth.ok ? { key: auth.key } : { reply: err(ctx.state, 401, 'You do not have access permissions') };
}

interface KieInput {
  model: string;
  prompt: string;
  aspectRatio: string;
  resolution: string;
  inputUrls: string[];
  callBackUrl?: string;
}

function validate(body: unknown): { ok: true; value: KieInput } | { ok: false; msg: string } {
  if (!isPlainObject(body)) return { ok: false, msg: 'Request body must be a JSON object' };
  const { model, callBackUrl, input } = body;
  if (typeof model !== 'string' || model === '') return { ok: false, msg: 'model is required' };
  if (!MODELS.includes(model)) return { ok: false, msg: `model ${model} is not supported; use one of ${MODELS.join(', ')}` };
  if (callBackUrl !== undefined && callBackUrl !== null && (typeof callBackUrl !== 'string' || !isHttpUrl(callBackUrl))) {
    return { ok: false, msg: 'callBackUrl must be an http(s) URL' };
  }
  if (!isPlainObject(input)) return { ok: false, msg: 'input is required' };
  const { prompt, aspect_ratio = '1:1', resolution = '1K', input_urls } = input;
  if (typeof prompt !== 'string' || prompt.length < 3 || prompt.length > 5000) {
    return { ok: false, msg: 'input.prompt is required and must be 3 to 5000 characters' };
  }
  if (typeof aspect_ratio !== 'string' || !(ASPECT_RATIOS as readonly string[]).includes(aspect_ratio)) {
    return { ok: false, msg: `input.aspect_ratio must be one of ${ASPECT_RATIOS.join(', ')}` };
  }
  if (typeof resolution !== 'string' || !(RESOLUTIONS as readonly string[]).includes(resolution)) {
    return { ok: false, msg: `input.resolution must be one of ${RESOLUTIONS.join(', ')}` };
  }
  const i2i = model.endsWith('image-to-image');
  let inputUrls: string[] = [];
  if (i2i) {
    if (!Array.isArray(input_urls) || input_urls.length < 1 || input_urls.length > 8) {
      return { ok: false, msg: 'input.input_urls is required for image-to-image: 1 to 8 image URLs' };
    }
    if (!input_urls.every((u) => typeof u === 'string' && isHttpUrl(u))) return { ok: false, msg: 'input.input_urls must be http(s) URLs' };
    inputUrls = input_urls as string[];
  }
  if (aspect_ratio === 'auto' && !i2i) return { ok: false, msg: 'input.aspect_ratio auto needs an input image' };
  return { ok: true, value: { model, prompt, aspectRatio: aspect_ratio, resolution, inputUrls, callBackUrl: callBackUrl ?? undefined } };
}

async function createTask(ctx: RequestContext): Promise<HandlerResult> {
  const { state } = ctx;
  const auth = authorize(ctx);
  if ('reply' in auth) return auth.reply;
  const json = await readJson(
    ctx,
    (error) => err(state, 422, `Invalid JSON body: ${error}`),
    () => err(state, 422, 'Request body too large'),
  );
  if (!json.ok) return json.reply;
  const checked = validate(json.value);
  if (!checked.ok) return err(state, 422, checked.msg);
  const input = checked.value;
  let images: LoadedImage[];
  try {
    images = await loadImages(input.inputUrls, { allowBase64: false, maxBytes: MAX_INPUT_BYTES });
  } catch (e) {
    if (e instanceof InputImageError) return err(state, 422, `input.input_urls: ${e.message}`);
    throw e;
  }
  const size = aspectSize(input.aspectRatio, input.resolution, images[0]);
  const price = kieCredits(input.model, input.resolution);
  const admission = state.admit('kie', auth.key, price, input.prompt);
  if (!admission.ok) {
    return admission.reason === 'cap'
      ? err(state, 429, `Rate limited: at most ${admission.cap} tasks may run at once for this key`)
      : err(state, 402, 'Credits insufficient. Please top up your account.');
  }
  const id = `task_flux-2_${Date.now()}${String(state.nextSeq()).padStart(4, '0')}`;
  state.createTask({
    id,
    provider: 'kie',
    model: input.model,
    family: input.model.includes('/pro-') ? 'pro' : 'flex',
    key: auth.key,
    path: ctx.url.pathname,
    body: json.value,
    outcome: admission.outcome,
    prompt: input.prompt,
    // kie takes no seed: each task gets one, so repeated requests differ like the real service.
    seed: state.randomSeed(),
    width: size.width,
    height: size.height,
    format: 'png',
    inputs: images,
    price,
    callback: input.callBackUrl ? { url: input.callBackUrl } : undefined,
    buildCallback: buildKieCallback(state),
    meta: { resolution: input.resolution },
  });
  if (admission.dropAfterAccept) return state.dropAccepted(ctx.res);
  return { status: 200, body: { code: 200, msg: 'success', data: { taskId: id } } };
}

const FAILURES = {
  request_moderated: { failCode: '422', failMsg: 'Your prompt was flagged by the content safety filter. Please revise it and try again.' },
  content_moderated: { failCode: '422', failMsg: 'The generated image was flagged by the content safety filter.' },
  failed: { failCode: '500', failMsg: 'Internal server error' },
};

function stateName(phase: TaskPhase): string {
  if (phase.state === 'terminal') return phase.outcome === 'ready' ? 'success' : 'fail';
  if (phase.fraction < 0.15) return 'waiting';
  return phase.fraction < 0.35 ? 'queuing' : 'generating';
}

/** The `data` of recordInfo and of the callback. */
function recordData(state: EmulatorState, task: EmulatedTask, phase: TaskPhase) {
  const terminal = phase.state === 'terminal';
  const done = terminal && phase.outcome === 'ready';
  const failure = terminal && phase.outcome !== 'ready' ? FAILURES[phase.outcome] : undefined;
  const completeTime = terminal ? phase.completedAt : null;
  return {
    taskId: task.id,
    model: task.model,
    state: stateName(phase),
    param: JSON.stringify(task.body),
    resultJson: done ? JSON.stringify({ resultUrls: [state.resultUrl(task, phase.completedAt, 'result')] }) : '',
    failCode: failure?.failCode ?? '',
    failMsg: failure ? (phase.state === 'terminal' && phase.reason) || failure.failMsg : '',
    costTime: terminal ? Math.max(1, Math.round((phase.completedAt - task.createdAt) / 1000)) : null,
    completeTime,
    createTime: task.createdAt,
    updateTime: completeTime ?? state.now(),
    progress: terminal ? 100 : Math.round((phase.state === 'pending' ? phase.fraction : 1) * 100),
    consumeCredits: done ? task.charged : 0,
    remainedCredits: state.balance('kie', task.key),
  };
}

async function recordInfo(ctx: RequestContext): Promise<HandlerResult> {
  const { state } = ctx;
  const auth = authorize(ctx);
  if ('reply' in auth) return auth.reply;
  const id = ctx.url.searchParams.get('taskId');
  if (!id) return err(state, 422, 'taskId is required');
  const task = state.tasks.get('kie', id, state.now());
  if (!task || task.key !== auth.key) return err(state, 404, 'Task not found');
  const data = recordData(state, task, taskPhase(task, state.now()));
  return { status: 200, body: { code: 200, message: 'success', data } };
}

async function credit(ctx: RequestContext): Promise<HandlerResult> {
  const auth = authorize(ctx);
  if ('reply' in auth) return auth.reply;
  return { status: 200, body: { code: 200, msg: 'success', data: ctx.state.balance('kie', auth.key) } };
}

/** providers.md 2.5; signed (id + "." + timestamp) only when the account has a webhookHmacKey. */
function buildKieCallback(state: EmulatorState): CallbackBuilder {
  return (task, phase, badSignature) => {
    const data = recordData(state, task, phase);
    const ok = phase.outcome === 'ready';
    const body = ok
      ? { code: 200, msg: 'Image generated successfully.', data }
      : { code: 501, msg: data.failMsg || 'Image generation failed.', data };
    const headers: Record<string, string> = {};
    const hmacKey = state.options.kieWebhookHmacKey;
    if (hmacKey) {
      const timestamp = String(Math.floor(Date.now() / 1000));
      headers['X-Webhook-Timestamp'] = timestamp;
      headers['X-Webhook-Signature'] = kieSignature(badSignature ? `${hmacKey}-wrong` : hmacKey, task.id, timestamp);
    }
    return { provider: 'kie', url: task.callback!.url, body: JSON.stringify(body), headers };
  };
}

export const kieProtocol: ProviderProtocol = {
  name: 'kie',
  routes: [
    { method: 'POST', path: '/api/v1/jobs/createTask', phase: 'submit', handle: createTask },
    { method: 'GET', path: '/api/v1/jobs/recordInfo', phase: 'poll', handle: recordInfo },
    { method: 'GET', path: '/api/v1/chat/credit', phase: 'poll', handle: credit },
    ...kieUploadRoutes,
  ],
  ownsPath: (p) => p.startsWith('/api/v1/jobs/') || p.startsWith('/api/v1/chat/') || p.startsWith('/api/file-') || p.startsWith('/kie-files/'),
  notFound: () => ({ status: 404, body: { code: 404, msg: 'Not Found' } }),
  methodNotAllowed: () => ({ status: 405, body: { code: 405, msg: 'Method Not Allowed' } }),
  rateLimited: (sec, state) => err(state, 429, 'Rate limited, please try again later', { 'retry-after': String(sec) }),
  // 455 is kie's "maintenance" code; the HTTP status (when mirrored) stays the injected 5xx.
  serverError: (status, state) =>
    status === 503
      ? codeReply(state, 455, { msg: 'Service unavailable: the system is under maintenance' }, undefined, status)
      : codeReply(state, 500, { msg: 'Server error, please try again later' }, undefined, status),
};
