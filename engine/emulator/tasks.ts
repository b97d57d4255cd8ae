/**
 * Emulated tasks. A task's state is computed from the clock (created → latency → terminal), never
 * advanced by timers, so polls see a consistent state machine however the event loop is loaded.
 */
import type { Outcome } from './faults';
import type { RenderedImage, RenderSpec } from './render';
import type { ImageFormat, ProviderName, TaskSummary } from './types';

/** Where and how to POST a task's completion. */
export interface CallbackTarget {
  url: string;
  /** BFL `webhook_secret`. */
  secret?: string;
}

/** One task as the emulator keeps it, whatever the provider. */
export interface EmulatedTask {
  id: string;
  provider: ProviderName;
  /** Model name as the provider spells it (flux-2-flex, flux-2/pro-text-to-image...). */
  model: string;
  /** flex | max | pro | dev: what pricing and the state names use. */
  family: string;
  key: string;
  path: string;
  requestHash: string;
  /** The parsed request body, echoed back as kie/crun `param`. */
  body: unknown;
  createdAt: number;
  readyAt: number;
  outcome: Outcome;
  prompt: string;
  /** What the provider reports as the prompt used (BFL upsamples). */
  resultPrompt: string;
  seed: number;
  width: number;
  height: number;
  format: ImageFormat;
  /** Credits deducted from the balance (0 when the provider does not charge this outcome). */
  charged: number;
  /** Credits the provider reports for this task. */
  price: number;
  callback?: CallbackTarget;
  /** What the result image is rendered from, again on every fetch after the first (deterministic). */
  render?: RenderSpec;
  /** The render made at completion, until its first download. */
  image?: RenderedImage;
  renderedAt?: number;
  renderError?: string;
  rendering: Promise<void>;
  delivery?: { token: string; url: string; expiresAt: number };
  /** Status requests answered "not found" so far (poll fault `notFoundPolls`). */
  hiddenPolls?: number;
  /** Provider-specific facts for responses. */
  meta: Record<string, unknown>;
}

/** Where a task is at a given time: pending (with progress) or terminal (with its outcome). */
export type TaskPhase =
  | { state: 'pending'; fraction: number }
  | { state: 'terminal'; outcome: Exclude<Outcome, 'stuck'>; completedAt: number; reason?: string };

export function taskPhase(task: EmulatedTask, now: number): TaskPhase {
  switch (task.outcome) {
    case 'stuck':
      return { state: 'pending', fraction: 0 };
    case 'request_moderated':
      return { state: 'terminal', outcome: 'request_moderated', completedAt: task.createdAt };
    default:
      break;
  }
  if (now < task.readyAt) {
    const span = Math.max(1, task.readyAt - task.createdAt);
    return { state: 'pending', fraction: Math.min(0.99, Math.max(0, (now - task.createdAt) / span)) };
  }
  if (task.outcome !== 'ready') return { state: 'terminal', outcome: task.outcome, completedAt: task.readyAt };
  if (task.renderError) {
    return { state: 'terminal', outcome: 'failed', completedAt: Math.max(task.readyAt, task.renderedAt ?? 0), reason: task.renderError };
  }
  if (task.renderedAt === undefined) return { state: 'pending', fraction: 0.99 };
  return { state: 'terminal', outcome: 'ready', completedAt: Math.max(task.readyAt, task.renderedAt ?? 0) };
}

export function isTerminal(task: EmulatedTask, now: number): boolean {
  return taskPhase(task, now).state === 'terminal';
}

/** Tasks by id, active tasks per provider and key, and result URLs by token. */
export class TaskStore {
  private byId = new Map<string, EmulatedTask>();
  private activeByKey = new Map<string, Set<EmulatedTask>>();
  private byToken = new Map<string, EmulatedTask>();

  private addsSinceSweep = 0;

  constructor(
    private readonly ttlMs: () => number,
    private readonly now: () => number,
    /** Whether a status request is to be answered "not found" for this (existing) task. */
    private readonly hideFromPoll: (task: EmulatedTask) => boolean = () => false,
  ) {}

  add(task: EmulatedTask): void {
    if (++this.addsSinceSweep >= 256) this.sweep();
    this.byId.set(task.id, task);
    const k = `${task.provider}\n${task.key}`;
    let set = this.activeByKey.get(k);
    if (!set) this.activeByKey.set(k, (set = new Set()));
    set.add(task);
  }

  /**
   * The task a status request asks about, unless unknown, expired, asked for by another provider,
   * or still hidden by the `notFoundPolls` fault (each such answer counts one).
   */
  get(provider: ProviderName, id: string, now: number): EmulatedTask | undefined {
    const task = this.byId.get(id);
    if (!task || task.provider !== provider) return undefined;
    if (now - task.createdAt > this.ttlMs()) {
      this.byId.delete(id);
      return undefined;
    }
    return this.hideFromPoll(task) ? undefined : task;
  }

  setDelivery(task: EmulatedTask, delivery: NonNullable<EmulatedTask['delivery']>): void {
    task.delivery = delivery;
    this.byToken.set(delivery.token, task);
  }

  findByDeliveryToken(token: string): EmulatedTask | undefined {
    const task = this.byToken.get(token);
    return task && this.byId.has(task.id) ? task : undefined;
  }

  /** Submitted and not finished, for the per-key concurrency cap. */
  activeCount(provider: ProviderName, key: string, now: number): number {
    const set = this.activeByKey.get(`${provider}\n${key}`);
    if (!set) return 0;
    for (const t of set) if (isTerminal(t, now)) set.delete(t);
    return set.size;
  }

  /** Forgets expired tasks and the bytes behind expired result URLs, so a long-running emulator stays small. */
  private sweep(): void {
    this.addsSinceSweep = 0;
    const now = this.now();
    const ttl = this.ttlMs();
    for (const [id, task] of this.byId) {
      if (now - task.createdAt > ttl) {
        this.byId.delete(id);
        if (task.delivery) this.byToken.delete(task.delivery.token);
      } else if (task.delivery && now > task.delivery.expiresAt) {
        // Its URL no longer works: nothing to render it for (frees an edit's input image too).
        task.render = undefined;
      }
    }
  }

  all(): EmulatedTask[] {
    return [...this.byId.values()];
  }

  clear(): void {
    this.byId.clear();
    this.activeByKey.clear();
    this.byToken.clear();
  }
}

export function summarize(task: EmulatedTask, now: number): TaskSummary {
  return {
    id: task.id,
    provider: task.provider,
    model: task.model,
    key: task.key,
    prompt: task.prompt,
    seed: task.seed,
    width: task.width,
    height: task.height,
    outcome: task.outcome,
    terminal: isTerminal(task, now),
    createdAt: task.createdAt,
    requestHash: task.requestHash,
    charged: task.charged,
  };
}
