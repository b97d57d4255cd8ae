/**
 * `fluxgraph serve --queue`: the editor's runs go to the shared queue and are run by workers; the
 * live view is relayed from each run's Redis stream, so a restart of the server loses nothing:
 * a client that reconnects with Last-Event-ID gets exactly the events it missed, to the end.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../engine/server/server';
import { tempDir } from '../helpers/tmp';
import { startRig, startWorker, stopWorkers, type Rig, type WorkerProc } from './helpers';

const CAP = 4;

const pipeline = {
  version: 1,
  name: 'served',
  settings: { provider: 'bfl' },
  nodes: [
    { id: 'idea', type: 'prompt', params: { text: 'a lighthouse at dusk' } },
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 512, height: 512, count: 8 } },
    { id: 'save', type: 'save-image', params: {} },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
};

interface Seen {
  id: number;
  type: string;
  status?: string;
}

/** Reads the run's SSE stream until it ends, or until `stopAfter` events (then drops the connection). */
async function readSse(url: string, headers: Record<string, string> = {}, stopAfter = Infinity): Promise<Seen[]> {
  const stop = new AbortController();
  const res = await fetch(url, { headers, signal: stop.signal });
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const seen: Seen[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const id = /^id: (\d+)$/m.exec(block);
        const data = /^data: (.*)$/m.exec(block);
        if (!id || !data) continue;
        const e = JSON.parse(data[1]) as { type: string; summary?: { status: string } };
        seen.push({ id: Number(id[1]), type: e.type, ...(e.summary ? { status: e.summary.status } : {}) });
        if (seen.length >= stopAfter) {
          stop.abort();
          return seen;
        }
      }
    }
  } catch (e) {
    if (!stop.signal.aborted) throw e;
  }
  return seen;
}

describe('serve --queue', () => {
  let rig: Rig;
  let cwd: string;
  const workers: WorkerProc[] = [];
  beforeAll(async () => {
    rig = await startRig({ latencyMs: 1000, activeTaskCap: CAP });
    cwd = tempDir('fluxgraph-serve-queue-');
  });
  afterAll(async () => {
    await stopWorkers(workers);
    await rig?.stop();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('a restart of the server keeps the live view: Last-Event-ID replays exactly what was missed, to the end of the run', async () => {
    const env = { ...rig.env, BFL_API_KEYS: 'served:key-served' };
    workers.push(await startWorker(['--concurrency', `bfl=${CAP}`], env));
    const options = { cwd, env, editor: 'none' as const, queue: true, outDir: join(cwd, 'out') };
    let server: RunningServer = await startServer({ ...options, port: 0 });
    const port = server.port;
    try {
      const started = await fetch(`${server.url}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pipeline }) });
      expect(started.status).toBe(201);
      const { runId } = (await started.json()) as { runId: string };
      const events = `${server.url}/api/runs/${runId}/events`;
      const first = await readSse(events, {}, 6);
      expect(first.map((e) => e.id)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(first[0].type).toBe('runStart');

      // The server goes away and comes back on the same port; the run goes on in the queue.
      await server.close();
      server = await startServer({ ...options, port, strictPort: true });
      const accounts = (await (await fetch(`${server.url}/api/accounts`)).json()) as { accounts: { account: string; cap: number }[] };
      expect(accounts.accounts).toEqual([expect.objectContaining({ account: 'served', cap: CAP })]);
      const rest = await readSse(events, { 'last-event-id': '6' });
      expect(rest[0].id).toBe(7);
      expect(rest.map((e) => e.id)).toEqual(rest.map((_, i) => 7 + i));
      expect(rest.at(-1)).toMatchObject({ type: 'runDone', status: 'done' });

      // The run's record comes from the Postgres ledger; the images from the shared store.
      const record = (await (await fetch(`${server.url}/api/runs/${runId}`)).json()) as { status: string; images: { hash: string }[]; imagesWritten: string[] };
      expect(record.status).toBe('done');
      expect(record.images).toHaveLength(8);
      expect(record.imagesWritten).toHaveLength(8);
      const image = await fetch(`${server.url}/api/images/${record.images[0].hash}`);
      expect(image.status).toBe(200);
      expect(rig.emulator.stats().submissions.bfl).toBe(8);
    } finally {
      await server.close();
    }
  }, 180_000);
});
