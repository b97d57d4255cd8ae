/**
 * An in-process provider for scheduler unit tests (the integration tests use the emulator over
 * real HTTP). It records what happened so tests can assert order, caps and failure isolation.
 */
import sharp from 'sharp';
import { EngineError } from '../../engine/core/errors';
import type { GeneratedImage, ImageRequest, Provider, ProviderSet, TaskRef } from '../../engine/core/provider';

export interface FakeProviderOptions {
  id?: string;
  latencyMs?: number | ((req: ImageRequest) => number);
  cap?: number;
  /** Seeds whose task ends moderated. */
  moderateSeeds?: number[];
  /** Prompts whose task ends moderated. */
  moderatePrompts?: string[];
  /** Submits answered with a 429 before one is accepted. */
  rateLimitFirst?: number;
}

export interface FakeLog {
  submits: ImageRequest[];
  events: string[];
  active: number;
  peakActive: number;
  /** Waits (polls) still running. */
  waiting: number;
}

export function fakeProvider(o: FakeProviderOptions = {}): Provider & { log: FakeLog } {
  const log: FakeLog = { submits: [], events: [], active: 0, peakActive: 0, waiting: 0 };
  const requests = new Map<string, ImageRequest>();
  let refusals = o.rateLimitFirst ?? 0;
  let n = 0;
  return {
    id: o.id ?? 'bfl',
    title: 'Fake',
    log,
    capabilities: {
      models: ['flex', 'max'],
      honours: { flex: ['prompt', 'references', 'width', 'height', 'seed', 'steps', 'guidance', 'promptUpsampling', 'safetyTolerance', 'outputFormat'], max: ['prompt', 'references', 'width', 'height', 'seed', 'safetyTolerance', 'outputFormat'] },
      maxReferences: 8,
      referencesMustBeUrls: false,
      defaultConcurrency: o.cap ?? 24,
      mapSize: (width, height) => ({ width, height }),
    },
    async submit(request: ImageRequest, { signal }): Promise<TaskRef> {
      if (signal.aborted) throw new EngineError('aborted', 'cancelled');
      if (refusals > 0) {
        refusals--;
        throw new EngineError('rate_limited', 'too many active tasks', { retryable: true, retryAfterSec: 0 });
      }
      log.active++;
      log.peakActive = Math.max(log.peakActive, log.active);
      log.submits.push(request);
      const taskId = `task-${++n}`;
      requests.set(taskId, request);
      log.events.push(`submit ${request.model} ${request.seed}`);
      return { provider: o.id ?? 'bfl', model: request.model, taskId, submittedAt: Date.now(), ...(request.seed !== undefined ? { seed: request.seed } : {}) };
    },
    async wait(task: TaskRef, { signal }): Promise<GeneratedImage> {
      const request = requests.get(task.taskId)!;
      const latency = typeof o.latencyMs === 'function' ? o.latencyMs(request) : (o.latencyMs ?? 5);
      log.waiting++;
      try {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, latency);
          signal.addEventListener('abort', () => (clearTimeout(t), reject(new EngineError('aborted', 'cancelled'))), { once: true });
        });
        if (o.moderateSeeds?.includes(request.seed ?? -1) || o.moderatePrompts?.includes(request.prompt)) {
          throw new EngineError('moderated', `content moderated (task ${task.taskId}); try raising safetyTolerance`, { taskId: task.taskId, provider: task.provider });
        }
        const seed = request.seed ?? 0;
        const bytes = await sharp({ create: { width: request.width ?? 64, height: request.height ?? 64, channels: 3, background: { r: seed % 256, g: (seed >> 8) % 256, b: request.model === 'max' ? 200 : (request.steps ?? 50) } } })
          .png()
          .toBuffer();
        log.events.push(`done ${request.model} ${request.seed}`);
        return { bytes, mime: 'image/png', seed, costUsd: request.model === 'max' ? 0.07 : 0.05 };
      } finally {
        log.active--;
        log.waiting--;
      }
    },
  };
}

export function providerSet(...providers: Provider[]): ProviderSet {
  const map = new Map(providers.map((p) => [p.id, p]));
  return { get: (id) => map.get(id), ids: () => [...map.keys()], defaultId: providers[0].id };
}
