/**
 * crun.ai (providers.md section 4): POST /api/v1/client/job/CreateTask, GET
 * /api/v1/client/job/TaskInfo; `x-api-key` auth; body `code` errors with `message`; `param` as an
 * object; times in epoch seconds. The flux-2 `input` fields were never captured [U]: either of
 * two shapes is enforced (crun-inputs.ts, option `crunInputStyle`).
 */
import { header, isPlainObject, type Reply } from './http';
import { InputImageError, isHttpUrl, loadImages, type LoadedImage } from './inputs';
import { crunCredits } from './pricing';
import { codeReply, readJson, type HandlerResult, type ProviderProtocol, type RequestContext } from './protocol';
import { parseCrunInput, type CrunInputStyle, type CrunParsedInput } from './crun-inputs';
import type { EmulatorState } from './state';
import { taskPhase, type EmulatedTask, type TaskPhase } from './tasks';

const MODELS = ['flux-2-flex', 'flux-2-max'];
const MAX_INPUT_BYTES = 10 * 1024 * 1024;

const err = (state: EmulatorState, code: number, message: string, headers?: Record<string, string>, httpStatus = code): Reply =>
  codeReply(state, code, { message, data: null }, headers, httpStatus);

function authorize(ctx: RequestContext): { key: string } | { reply: Reply } {
  const auth = ctx.state.authorize(header(ctx.req, 'x-api-key')?.trim());
  return auth.ok ? { key: auth.key } : { reply: err(ctx.state, 401, 'Unauthorized: invalid or missing API key') };
}

interface CrunInput extends CrunParsedInput {
  model: string;
  callbackUrl?: string;
}

function validate(body: unknown, style: CrunInputStyle): { ok: true; value: CrunInput } | { ok: false; message: string } {
  const fail = (message: string) => ({ ok: false as const, message });
  if (!isPlainObject(body)) return fail('request body must be a JSON object');
  const { model, callback_url, input } = body;
  if (typeof model !== 'string' || !MODELS.includes(model)) return fail(`model must be one of ${MODELS.join(', ')}`);
  if (callback_url !== undefined && callback_url !== null && (typeof callback_url !== 'string' || !isHttpUrl(callback_url))) {
    return fail('callback_url must be an http(s) URL');
  }
  const parsed = parseCrunInput(input, model, style);
  if (!parsed.ok) return parsed;
  return { ok: true, value: { ...parsed.value, model, ...(typeof callback_url === 'string' ? { callbackUrl: callback_url } : {}) } };
}

function admissionError(state: EmulatorState, admission: { reason: 'cap'; cap: number } | { reason: 'credits' }): Reply {
  return admission.reason === 'cap'
    ? err(state, 429, `Too many requests: at most ${admission.cap} running tasks per API key`)
    : err(state, 402, 'Insufficient credits');
}

async function parse(ctx: RequestContext): Promise<{ ok: true; input: CrunInput; body: unknown; images: LoadedImage[] } | { ok: false; reply: Reply }> {
  const { state } = ctx;
  const json = await readJson(
    ctx,
    (error) => err(state, 422, `invalid JSON body: ${error}`),
    () => err(state, 422, 'request body too large'),
  );
  if (!json.ok) return json;
  const checked = validate(json.value, state.options.crunInputStyle ?? 'img_urls');
  if (!checked.ok) return { ok: false, reply: err(state, 422, checked.message) };
  try {
    const images = await loadImages(checked.value.imageUrls, { allowBase64: false, maxBytes: MAX_INPUT_BYTES });
    return { ok: true, input: checked.value, body: json.value, images };
  } catch (e) {
    if (e instanceof InputImageError) return { ok: false, reply: err(state, 422, `input images: ${e.message}`) };
    throw e;
  }
}

async function createTask(ctx: RequestContext): Promise<HandlerResult> {
  const { state } = ctx;
  const auth = authorize(ctx);
  if ('reply' in auth) return auth.reply;
  const parsed = await parse(ctx);
  if (!parsed.ok) return parsed.reply;
  const { input, images } = parsed;
  const size = input.size(images[0]);
  const price = crunCredits(input.model, input.tier);
  const admission = state.admit('crun', auth.key, price, input.prompt);
  if (!admission.ok) return admissionError(state, admission);
  const id = `task_${Date.now().toString(16)}${String(state.nextSeq()).padStart(4, '0')}`;
  state.createTask({
    id,
    provider: 'crun',
    model: input.model,
    family: input.model === 'flux-2-max' ? 'max' : 'flex',
    key: auth.key,
    path: ctx.url.pathname,
    body: parsed.body,
    outcome: admission.outcome,
    prompt: input.prompt,
    seed: input.seed ?? state.randomSeed(),
    width: size.width,
    height: size.height,
    format: input.format,
    inputs: images,
    price,
    callback: input.callbackUrl ? { url: input.callbackUrl } : undefined,
    meta: { input: input.kept },
    buildCallback: (task, phase) => ({ provider: 'crun', url: task.callback!.url, body: JSON.stringify(taskInfo(state, task, phase)), headers: {} }),
  });
  if (admission.dropAfterAccept) return state.dropAccepted(ctx.res);
  return { status: 200, body: { code: 200, message: 'success', data: { task_id: id } } };
}

async function estimateCredits(ctx: RequestContext): Promise<HandlerResult> {
  const auth = authorize(ctx);
  if ('reply' in auth) return auth.reply;
  const parsed = await parse(ctx);
  if (!parsed.ok) return parsed.reply;
  return { status: 200, body: { code: 200, message: 'success', data: { credits: crunCredits(parsed.input.model, parsed.input.tier) } } };
}

const FAILURES = {
  request_moderated: { code: 422, message: 'Content moderated: the prompt or input image was flagged' },
  content_moderated: { code: 422, message: 'Content moderated: the generated image was flagged' },
  failed: { code: 501, message: 'Generation failed' },
};

function statusName(phase: TaskPhase): string {
  if (phase.state === 'terminal') return phase.outcome === 'ready' ? 'success' : 'failed';
  return phase.fraction < 0.3 ? 'pending' : 'running';
}

/** TaskInfo `data`, also the callback body. */
function taskInfo(state: EmulatorState, task: EmulatedTask, phase: TaskPhase) {
  const body = task.body as Record<string, unknown>;
  const terminal = phase.state === 'terminal';
  let result: { code: number; message: string; media_urls: string[] } | null = null;
  if (terminal) {
    result =
      phase.outcome === 'ready'
        ? { code: 200, message: 'success', media_urls: [state.resultUrl(task, phase.completedAt, 'output')] }
        : { ...FAILURES[phase.outcome], ...(phase.reason ? { message: phase.reason } : {}), media_urls: [] };
  }
  const seconds = (ms: number) => Math.floor(ms / 1000);
  return {
    task_id: task.id,
    provider: 'black-forest-labs',
    model_version: task.model,
    status: statusName(phase),
    // The input as crun kept it: fields of the other shape are gone (crun-inputs.ts).
    param: { model: body.model, callback_url: body.callback_url ?? null, input: task.meta.input ?? body.input },
    create_at: seconds(task.createdAt),
    result,
    duration_s: terminal ? Math.max(0, Math.round((phase.completedAt - task.createdAt) / 100) / 10) : null,
    complete_at: terminal ? seconds(phase.completedAt) : null,
    source: 'api',
    ...(terminal ? { credits: phase.outcome === 'ready' ? task.charged : 0 } : {}),
  };
}

async function getTaskInfo(ctx: RequestContext): Promise<HandlerResult> {
  const { state } = ctx;
  const auth = authorize(ctx);
  if ('reply' in auth) return auth.reply;
  const id = ctx.url.searchParams.get('task_id');
  if (!id) return err(state, 422, 'task_id is required');
  const task = state.tasks.get('crun', id, state.now());
  if (!task || task.key !== auth.key) return err(state, 404, 'Task not found');
  return { status: 200, body: { code: 200, message: 'success', data: taskInfo(state, task, taskPhase(task, state.now())) } };
}

export const crunProtocol: ProviderProtocol = {
  name: 'crun',
  routes: [
    { method: 'POST', path: '/api/v1/client/job/CreateTask', phase: 'submit', handle: createTask },
    { method: 'GET', path: '/api/v1/client/job/TaskInfo', phase: 'poll', handle: getTaskInfo },
    { method: 'POST', path: '/api/v1/client/job/estimate-credits', phase: 'poll', handle: estimateCredits },
  ],
  ownsPath: (p) => p.startsWith('/api/v1/client/'),
  notFound: () => ({ status: 404, body: { code: 404, message: 'Not Found', data: null } }),
  methodNotAllowed: () => ({ status: 405, body: { code: 405, message: 'Method Not Allowed', data: null } }),
  rateLimited: (sec, state) => err(state, 429, 'Too many requests, please retry later', { 'retry-after': String(sec) }),
  serverError: (status, state) =>
    status === 503 ? err(state, 455, 'Service unavailable: maintenance', undefined, status) : err(state, 500, 'Internal server error', undefined, status),
};
