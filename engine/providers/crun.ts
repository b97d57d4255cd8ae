/**
 * crun.ai (providers.md 4) as a task-API table: POST /api/v1/client/job/CreateTask with
 * `x-api-key`, then GET /api/v1/client/job/TaskInfo?task_id=. Models flux-2-flex and flux-2-max. The flux-2 `input`
 * fields are not published [U]: the mapping is one table of two shapes (CRUN_INPUT_STYLE), and
 * because a wrong guess would drop the references silently, TaskInfo's echo of the input
 * (`param.input`) is checked for them. Errors: HTTP status and/or body `code` with `message`.
 * Callbacks are unsigned, so they only nudge the poller.
 */
import type { ImageRequest, ModelId, Provider, ProviderCapabilities, TaskRef } from '../core/provider';
import { unsignedVerifier } from './callbacks';
import { ratioTier, sizeNote, wantedSize, type AdapterOptions } from './common';
import { isRecord } from './http';
import { createTaskApiProvider, MAINTENANCE_CODES, messageError, type TaskApi, type TaskRecord } from './task-api';

export const CRUN_DEFAULT_BASE_URL = 'https://api.crun.ai';
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
  maxReferences: 8,
  referencesMustBeUrls: true,
  // Unsourced: crun publishes no per-account limit (providers.md 9 [U]); settable with --concurrency crun=N or settings.concurrency.
  defaultConcurrency: 10,
  mapSize: mapCrunSize,
};

const STATUSES = { success: 'done', succeeded: 'done', failed: 'failed', fail: 'failed', error: 'failed' } as const;
const PARAMS = ['prompt', 'aspect_ratio', 'resolution', 'img_urls', 'input_images', 'safety_tolerance', 'output_format', 'seed', 'steps', 'guidance', 'model', 'callback_url'];

/** TaskInfo `data` (also the callback body): status, `result.media_urls`, and the input echo. */
function read(rec: unknown): TaskRecord {
  if (!isRecord(rec) || typeof rec.status !== 'string') return {};
  const result = isRecord(rec.result) ? rec.result : undefined;
  const url = Array.isArray(result?.media_urls) ? result.media_urls.find((u): u is string => typeof u === 'string' && u !== '') : undefined;
  const failure = [result?.code, result?.message].filter((x) => (typeof x === 'string' || typeof x === 'number') && x !== '').join(' ');
  return { status: rec.status, ...(url ? { url } : {}), ...(failure ? { failure } : {}) };
}

export interface CrunOptions extends AdapterOptions {
  /** CRUN_INPUT_STYLE; default img_urls. */
  inputStyle?: CrunInputStyle;
}

function body(shape: InputShape) {
  return (request: ImageRequest, urls: string[]): Record<string, unknown> => {
    const input = shape.build(request, urls);
    if (request.seed !== undefined) input.seed = request.seed;
    if (request.model === 'flex') {
      if (request.steps !== undefined) input.steps = request.steps;
      if (request.guidance !== undefined) input.guidance = request.guidance;
    }
    return { model: MODELS[request.model], input };
  };
}

export function crunApi(style: CrunInputStyle = 'img_urls'): TaskApi {
  const shape = CRUN_INPUT_SHAPES[style];
  // The megapixel shape has a safety_tolerance field; the other has none.
  const caps: ProviderCapabilities =
    style === 'input_images' ? { ...capabilities, honours: { flex: [...capabilities.honours.flex!, 'safetyTolerance'], max: [...capabilities.honours.max!, 'safetyTolerance'] } } : capabilities;
  return {
    id: 'crun',
    title: 'crun.ai',
    keyEnv: 'CRUN_API_KEY',
    defaultBaseUrl: CRUN_DEFAULT_BASE_URL,
    capabilities: caps,
    auth: (key) => ({ 'x-api-key': key }),
    paths: { submit: () => '/api/v1/client/job/CreateTask', status: (id) => `/api/v1/client/job/TaskInfo?task_id=${encodeURIComponent(id)}` },
    model: (model) => MODELS[model],
    body: body(shape),
    withCallback: (b, url) => void (b.callback_url = url),
    taskId: (answer) => {
      const data = isRecord(answer) && isRecord(answer.data) ? answer.data : undefined;
      return typeof data?.task_id === 'string' && data.task_id ? data.task_id : undefined;
    },
    record: { status: (a) => (isRecord(a) ? a.data : undefined), callback: (b) => (isRecord(b) && isRecord(b.data) ? b.data : b) },
    read,
    terminal: STATUSES,
    moderation: /nsfw|moderat|sensitive|safety|flagged|violat|prohibit|inappropriate/i,
    errors: { bodyCode: true, read: messageError(PARAMS), codes: MAINTENANCE_CODES },
    verifier: unsignedVerifier((b) => (isRecord(b) ? (b.task_id ?? (isRecord(b.data) ? b.data.task_id : undefined)) : undefined)),
    // What the input echo must still hold when the task is asked about.
    taskExtra: (_request, urls) => (urls.length > 0 ? { referenceField: shape.referenceField, references: urls.length, inputStyle: style } : undefined),
    inspect: (rec, task) => {
      const param = isRecord(rec) ? rec.param : undefined;
      return droppedReferences(task, isRecord(param) && isRecord(param.input) ? param.input : undefined);
    },
  };
}

export function createCrunProvider(opts: CrunOptions = {}): Provider {
  return createTaskApiProvider(crunApi(opts.inputStyle), opts);
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
