/**
 * When adapters ask providers about a task, counted as status requests at the emulator over real
 * HTTP: none while a verified callback is on its way, one safety poll for a task whose callback
 * never comes, one confirming poll after an unsigned callback, a first poll timed from the
 * latency observed so far, and a grace period for tasks the provider does not know yet.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EngineError } from '../../engine/core/errors';
import type { Provider } from '../../engine/core/provider';
import type { Emulator, ProviderName } from '../../engine/emulator/types';
import { CallbackReceiver } from '../../engine/providers/callbacks';
import { adapter, caught, emulator, request } from './helpers';

const signal = () => new AbortController().signal;
const LATENCY = 120;

let emu: Emulator;
let receiver: CallbackReceiver;
beforeAll(async () => {
  emu = await emulator({ latencyMs: LATENCY });
});
afterAll(() => emu.close());
beforeEach(async () => {
  emu.reset();
  emu.setFaults({});
  emu.setLatency(LATENCY);
  receiver = await CallbackReceiver.start();
  return () => receiver.close();
});

/** Submits and waits for `n` tasks one after the other; returns the status requests they caused. */
async function runTasks(p: Provider, id: ProviderName, n: number, from = 0): Promise<number> {
  const before = emu.stats().polls[id];
  for (let i = 0; i < n; i++) {
    const task = await p.submit(request({ seed: from + i }), { signal: signal() });
    const image = await p.wait(task, { signal: signal() });
    expect(image.bytes.length).toBeGreaterThan(100);
  }
  return emu.stats().polls[id] - before;
}

describe.each(['bfl', 'kie'] as const)('%s with verified callbacks', (id) => {
  it('sends no status request between submit and the callback', async () => {
    const p = adapter(id, emu, { callbacks: receiver });
    await runTasks(p, id, 2);
    expect(await runTasks(p, id, 4, 10)).toBe(0);
    expect(emu.stats().callbacks.delivered).toBe(6);
  });

  it('polls an overdue task once when its callback never comes', async () => {
    const p = adapter(id, emu, { callbacks: receiver });
    await runTasks(p, id, 3);
    emu.setFaults({ callback: { missing: 1 } });
    expect(await runTasks(p, id, 1, 10)).toBe(1);
    expect(emu.stats().callbacks.missing).toBe(1);
  });
});

describe.each(['novita', 'crun'] as const)('%s with unsigned callbacks', (id) => {
  it('confirms each callback with exactly one status request', async () => {
    const p = adapter(id, emu, { callbacks: receiver });
    await runTasks(p, id, 2);
    expect(await runTasks(p, id, 4, 10)).toBe(4);
  });
});

describe.each(['bfl', 'kie', 'novita', 'crun'] as const)('%s without callbacks', (id) => {
  it('times the first poll from the latency of earlier tasks', async () => {
    // Polling every 10 ms growing to 40 ms (FAST_POLL), a 300 ms task takes about 10 status requests.
    emu.setLatency(300);
    const p = adapter(id, emu);
    await runTasks(p, id, 3);
    const polls = await runTasks(p, id, 6, 10);
    expect(polls).toBeGreaterThanOrEqual(6);
    expect(polls).toBeLessThanOrEqual(12);
  });
});

describe.each(['bfl', 'kie', 'novita', 'crun'] as const)('%s task the provider does not know yet', (id) => {
  it('is asked again while its first polls answer "not found", and completes', async () => {
    emu.setFaults({ poll: { notFoundPolls: 2 } });
    const p = adapter(id, emu);
    expect(await runTasks(p, id, 1)).toBeGreaterThanOrEqual(3);
    expect(emu.stats().injected.poll.notFound).toBe(2);
  });

  it('is reported lost after the grace period, and stays resumable', async () => {
    emu.setFaults({ poll: { notFoundPolls: 1_000 } });
    const p = adapter(id, emu, { poll: { notFoundGraceMs: 150 } });
    const task = await p.submit(request(), { signal: signal() });
    const e = (await caught(p.wait(task, { signal: signal() }))) as EngineError;
    expect(e.code).toBe('task_not_found');
    expect(e.details).toMatchObject({ taskId: task.taskId, retryable: false, resumable: true });
    expect(emu.stats().injected.poll.notFound).toBeGreaterThan(1);
    // Once the provider knows it, waiting again (a resume) finishes it without a new submit.
    emu.setFaults({});
    const image = await p.wait(task, { signal: signal() });
    expect(image.bytes.length).toBeGreaterThan(100);
    expect(emu.stats().submissions[id]).toBe(1);
  });
});
