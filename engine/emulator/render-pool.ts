/**
 * Renders emulator images on a worker thread, so a host that embeds the emulator (the CLI, the
 * server) keeps its main thread for its own work. Falls back to rendering in this thread when no
 * worker can be started (the same bytes either way: rendering is deterministic).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { renderImage, type RenderedImage, type RenderSpec } from './render';

interface Pending {
  resolve: (image: RenderedImage) => void;
  reject: (e: Error) => void;
}

type Reply = { id: number; mime: RenderedImage['mime']; bytes: ArrayBuffer } | { id: number; error: string };

export class RenderPool {
  private worker: Worker | undefined;
  private unavailable = false;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();

  /** Renders `spec`; deterministic in it, wherever it runs. */
  render(spec: RenderSpec): Promise<RenderedImage> {
    const worker = this.ensureWorker();
    if (!worker) return renderImage(spec);
    const id = ++this.seq;
    return new Promise<RenderedImage>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ id, spec });
    });
  }

  /** True while renders run on the worker thread (false after a fallback to this thread). */
  get onWorker(): boolean {
    return this.worker !== undefined;
  }

  /** Work posted and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.unavailable = true;
    for (const p of this.pending.values()) p.reject(new Error('the emulator was closed'));
    this.pending.clear();
    if (w) await w.terminate();
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker || this.unavailable) return this.worker;
    const start = workerStart();
    if (!start) {
      this.unavailable = true;
      return undefined;
    }
    try {
      const w = new Worker(start.code, { eval: true, stdout: false, stderr: false });
      w.unref();
      w.on('message', (m: Reply) => this.answer(m));
      w.on('error', (e) => this.fail(w, e));
      w.on('exit', (code) => this.fail(w, new Error(`the render thread exited (code ${code})`)));
      this.worker = w;
      return w;
    } catch {
      this.unavailable = true;
      return undefined;
    }
  }

  private answer(m: Reply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.worker?.unref();
    if ('error' in m) p.reject(new Error(m.error));
    else p.resolve({ bytes: Buffer.from(m.bytes), mime: m.mime });
  }

  /** A dead render thread: its jobs fail, later ones render here. */
  private fail(w: Worker, e: Error): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    this.unavailable = true;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

/**
 * The worker's bootstrap. From the TypeScript sources (tests, tsx) it registers tsx in the worker
 * before importing render-worker.ts; from a build it loads the compiled render-worker.js, beside
 * this module or one folder up (bundle chunks).
 */
function workerStart(): { code: string } | undefined {
  const self = import.meta.url;
  if (self.endsWith('.ts')) {
    const file = new URL('./render-worker.ts', self);
    const api = tsxApi(self);
    if (!existsSync(fileURLToPath(file)) || !api) return undefined;
    return { code: `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(file.href)}); });` };
  }
  for (const rel of ['./render-worker.js', '../render-worker.js', './emulator-render-worker.js', '../emulator-render-worker.js']) {
    const file = new URL(rel, self);
    if (existsSync(fileURLToPath(file))) return { code: `import(${JSON.stringify(file.href)});` };
  }
  return undefined;
}

function tsxApi(from: string): string | undefined {
  try {
    const pkg = createRequire(from).resolve('tsx/package.json');
    const api = join(dirname(pkg), 'dist', 'esm', 'api', 'index.mjs');
    return existsSync(api) ? pathToFileURL(api).href : undefined;
  } catch {
    return undefined;
  }
}
