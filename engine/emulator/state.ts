/**
 * The emulator's shared state: options, tasks, balances, faults, stats, timers. The protocol
 * handlers (bfl.ts, kie.ts, novita.ts, crun.ts) are thin translations on top of it.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { CallbackSender, type CallbackMessage } from './callbacks';
import { FaultEngine, type Outcome } from './faults';
import type { LoadedImage } from './inputs';
import { RenderPool } from './render-pool';
import type { RenderedImage } from './render';
import { StatsRecorder, requestHash } from './stats';
import { TaskStore, taskPhase, type CallbackTarget, type EmulatedTask, type TaskPhase } from './tasks';
import { RESULT_TTL_MS, type EmulatorOptions, type ImageFormat, type ProviderName } from './types';

/** Whether a valid submit becomes a task: cap, credits and drawn faults, in the providers' order. */
export type Admission =
  | { ok: true; outcome: Outcome; dropAfterAccept: boolean }
  | { ok: false; reason: 'cap'; cap: number }
  | { ok: false; reason: 'credits'; balance: number; price: number };

/** A key check: the key, or why it was refused (each provider shapes its own error). */
export type AuthResult = { ok: true; key: string } | { ok: false; reason: 'missing' | 'invalid' };

/** Builds a provider's callback for a finished task; `badSignature` asks for a wrong signature. */
export type CallbackBuilder = (task: EmulatedTask, phase: Extract<TaskPhase, { state: 'terminal' }>, badSignature: boolean) => CallbackMessage;

/** What a protocol handler knows about a task it is about to create. */
export interface NewTask {
  id: string;
  provider: ProviderName;
  model: string;
  family: string;
  key: string;
  path: string;
  body: unknown;
  outcome: Outcome;
  prompt: string;
  resultPrompt?: string;
  seed: number;
  width: number;
  height: number;
  format: ImageFormat;
  inputs: LoadedImage[];
  price: number;
  callback?: CallbackTarget;
  buildCallback?: CallbackBuilder;
  meta?: Record<string, unknown>;
}

/** Bytes of rendered, not yet downloaded images kept at most; older ones are rendered again on demand. */
const HELD_BYTES_MAX = 64 * 1024 * 1024;

/** Outcomes the providers do not charge for (BFL: moderation is free; kie: consumeCredits 0 on fail). */
const UNCHARGED: Outcome[] = ['request_moderated', 'content_moderated', 'failed'];

export class EmulatorState {
  readonly faults: FaultEngine;
  readonly tasks: TaskStore;
  readonly stats = new StatsRecorder();
  readonly callbacks: CallbackSender;
  baseUrl = '';
  pollBaseUrl = '';
  private balances = new Map<string, number>();
  private timers = new Set<NodeJS.Timeout>();
  private readonly closing = new AbortController();
  private readonly deliverySecret = randomBytes(16);
  private seq = 0;
  private readonly renderer = new RenderPool();
  /** Rendered images not downloaded yet, oldest first, and their total size (bounded by HELD_BYTES_MAX). */
  private readonly held = new Set<EmulatedTask>();
  private heldBytes = 0;
  /** Bumped by reset(), so callbacks of forgotten tasks are not sent. */
  private generation = 0;

  constructor(readonly options: EmulatorOptions) {
    this.faults = new FaultEngine(options.seed, options.faults);
    this.tasks = new TaskStore(
      () => this.options.taskTtlMs,
      () => this.now(),
      (task) => this.hideFromPoll(task),
    );
    this.callbacks = new CallbackSender({
      stats: this.stats,
      retryDelaysMs: () => this.options.callbackRetryDelaysMs,
      signal: this.closing.signal,
      wait: (ms) => this.wait(ms),
    });
  }

  now(): number {
    return this.options.clock ? this.options.clock() : Date.now();
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /** The `notFoundPolls` fault: the first N status requests of a task do not find it. */
  private hideFromPoll(task: EmulatedTask): boolean {
    const hidden = task.hiddenPolls ?? 0;
    if (hidden >= this.faults.notFoundPolls(task.provider)) return false;
    task.hiddenPolls = hidden + 1;
    this.stats.data.injected.poll.notFound++;
    return true;
  }

  /** A timer that close() cancels. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closing.signal.aborted) return;
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  authorize(key: string | undefined): AuthResult {
    if (!key) return { ok: false, reason: 'missing' };
    const valid = this.options.validKeys;
    if (valid && !valid.includes(key)) return { ok: false, reason: 'invalid' };
    return { ok: true, key };
  }

  balance(provider: ProviderName, key: string): number {
    return this.balances.get(`${provider}\n${key}`) ?? this.options.initialCredits;
  }

  capReached(provider: ProviderName, key: string): { reached: boolean; cap: number } {
    const cap = this.faults.activeTaskCap(this.options.activeTaskCap);
    return { reached: cap > 0 && this.tasks.activeCount(provider, key, this.now()) >= cap, cap };
  }

  admit(provider: ProviderName, key: string, price: number, prompt: string): Admission {
    const { reached, cap } = this.capReached(provider, key);
    if (reached) {
      this.stats.data.capRejections[provider]++;
      return { ok: false, reason: 'cap', cap };
    }
    const extra = this.faults.submitExtra(provider);
    if (extra.insufficientCredits) this.stats.data.injected.submit.insufficientCredits++;
    const balance = this.balance(provider, key);
    if (extra.insufficientCredits || balance < price) return { ok: false, reason: 'credits', balance: extra.insufficientCredits ? 0 : balance, price };
    return { ok: true, outcome: this.faults.outcome(provider, prompt), dropAfterAccept: extra.dropAfterAccept };
  }

  /** Loses the response of an accepted submit (the client cannot know the task exists). */
  dropAccepted(res: ServerResponse): null {
    this.stats.data.injected.submit.dropAfterAccept++;
    res.socket?.destroy();
    res.destroy();
    return null;
  }

  randomSeed(): number {
    return this.faults.randomSeed();
  }

  createTask(spec: NewTask): EmulatedTask {
    const now = this.now();
    const charged = UNCHARGED.includes(spec.outcome) ? 0 : spec.price;
    const task: EmulatedTask = {
      id: spec.id,
      provider: spec.provider,
      model: spec.model,
      family: spec.family,
      key: spec.key,
      path: spec.path,
      requestHash: requestHash(spec.provider, spec.path, spec.body),
      body: spec.body,
      createdAt: now,
      readyAt: now + Math.max(0, this.options.latencyMs),
      outcome: spec.outcome,
      prompt: spec.prompt,
      resultPrompt: spec.resultPrompt ?? spec.prompt,
      seed: spec.seed,
      width: spec.width,
      height: spec.height,
      format: spec.format,
      charged,
      price: spec.price,
      callback: spec.callback,
      rendering: Promise.resolve(),
      meta: spec.meta ?? {},
    };
    if (task.outcome === 'ready') {
      task.render = {
        prompt: task.prompt,
        seed: task.seed,
        width: task.width,
        height: task.height,
        format: task.format,
        ...(spec.inputs[0] ? { input: spec.inputs[0].bytes } : {}),
      };
      task.rendering = this.renderer.render(task.render).then(
        (image) => {
          this.hold(task, image);
          task.renderedAt = this.now();
        },
        (e: unknown) => {
          task.renderError = `rendering failed: ${(e as Error).message}`;
          task.renderedAt = this.now();
        },
      );
    }
    const balanceKey = `${spec.provider}\n${spec.key}`;
    this.balances.set(balanceKey, this.balance(spec.provider, spec.key) - charged);
    this.tasks.add(task);
    this.stats.taskCreated(task.provider, task.path, task.requestHash, task.outcome);
    this.stats.active(task.provider, task.key, this.tasks.activeCount(task.provider, task.key, now));
    if (task.callback && spec.buildCallback) void this.sendCallbackWhenDone(task, spec.buildCallback);
    return task;
  }

  /** Resolves once the task is terminal; never for stuck tasks. */
  async whenTerminal(task: EmulatedTask): Promise<Extract<TaskPhase, { state: 'terminal' }> | undefined> {
    if (task.outcome === 'stuck') return undefined;
    for (;;) {
      const wait = task.readyAt - this.now();
      if (wait > 0) await this.wait(wait);
      await task.rendering;
      if (this.closing.signal.aborted) return undefined;
      const phase = taskPhase(task, this.now());
      if (phase.state === 'terminal') return phase;
    }
  }

  private async sendCallbackWhenDone(task: EmulatedTask, build: CallbackBuilder): Promise<void> {
    const generation = this.generation;
    const phase = await this.whenTerminal(task);
    if (!phase || generation !== this.generation) return;
    const f = this.faults.callback(task.provider);
    const cb = this.stats.data.callbacks;
    if (f.missing) {
      cb.missing++;
      return;
    }
    if (f.badSignature) cb.badSignature++;
    const msg = build(task, phase, f.badSignature);
    await this.callbacks.deliver(msg);
    if (f.duplicate) {
      cb.duplicated++;
      await this.callbacks.deliver(msg);
    }
  }

  /**
   * The image behind a result URL. The render made at completion is handed out once (the client's
   * download) and forgotten; any later fetch renders it again, byte for byte the same, so the
   * emulator's memory does not grow with the number of images it has made.
   */
  async resultImage(task: EmulatedTask): Promise<RenderedImage | undefined> {
    if (task.image) {
      const image = task.image;
      this.release(task);
      return image;
    }
    return task.render ? this.renderer.render(task.render) : undefined;
  }

  /** Image bytes held for downloads not made yet (a test's and the benchmark's view). */
  memory(): { heldImages: number; heldBytes: number } {
    return { heldImages: this.held.size, heldBytes: this.heldBytes };
  }

  private hold(task: EmulatedTask, image: RenderedImage): void {
    task.image = image;
    this.held.add(task);
    this.heldBytes += image.bytes.length;
    // Results nobody downloads (cancelled runs) must not pile up: the oldest are rendered again if asked for.
    for (const old of this.held) {
      if (this.heldBytes <= HELD_BYTES_MAX) break;
      this.release(old);
    }
  }

  private release(task: EmulatedTask): void {
    if (!task.image) return;
    this.heldBytes -= task.image.bytes.length;
    task.image = undefined;
    this.held.delete(task);
  }

  /** How long a result URL of `provider` works after completion. */
  resultTtl(provider: ProviderName): number {
    return this.options.resultTtlByProvider?.[provider] ?? this.options.resultTtlMs ?? RESULT_TTL_MS[provider];
  }

  /**
   * The expiring result URL of a finished task, issued once (never re-signed [U]), in the shape
   * each provider's results come in: BFL's Azure SAS (`se`, `sig`), novita's presigned S3
   * (`X-Amz-Date`, `X-Amz-Expires`, `X-Amz-Signature`), kie's and crun's plain CDN paths (their
   * expiry is not in the URL; the path's token is the only secret).
   */
  resultUrl(task: EmulatedTask, completedAt: number, fileName: string): string {
    if (task.delivery) return task.delivery.url;
    const token = randomBytes(12).toString('hex');
    const ttl = this.resultTtl(task.provider);
    const expiresAt = completedAt + ttl;
    const path = `${this.pollBaseUrl}/delivery/${task.provider}/${token}/${fileName}.${task.format}`;
    let query = '';
    if (task.provider === 'bfl') {
      const se = new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z');
      query = `?se=${encodeURIComponent(se)}&sp=r&sig=${this.deliverySignature(token, se)}`;
    } else if (task.provider === 'novita') {
      const date = new Date(completedAt).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
      const expires = String(Math.round(ttl / 1000));
      query = `?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=${date}&X-Amz-Expires=${expires}&X-Amz-SignedHeaders=host&X-Amz-Signature=${this.deliverySignature(token, `${date}\n${expires}`)}`;
    }
    const url = path + query;
    this.tasks.setDelivery(task, { token, url, expiresAt });
    return url;
  }

  deliverySignature(token: string, se: string): string {
    return createHmac('sha256', this.deliverySecret).update(`${token}\n${se}`).digest('hex');
  }

  reset(): void {
    this.tasks.clear();
    this.held.clear();
    this.heldBytes = 0;
    this.stats.reset();
    this.balances.clear();
    this.faults.reseed();
    this.generation++;
  }

  close(): void {
    this.closing.abort();
    void this.renderer.close();
    this.callbacks.close();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
