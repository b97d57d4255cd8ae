import { describe, expect, it } from 'vitest';
import { Lanes } from '../../engine/core/lanes';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('Lanes', () => {
  it('runs at most the cap at once per lane, and lanes do not share caps', async () => {
    const lanes = new Lanes((id) => (id === 'a' ? 2 : 1));
    let active = 0;
    let peak = 0;
    const gate = deferred();
    const task = async () => {
      active++;
      peak = Math.max(peak, active);
      await gate.promise;
      active--;
    };
    const all = [...Array(6)].map(() => lanes.run('a', task));
    const other = lanes.run('b', async () => 'b ran');
    expect(await other).toBe('b ran');
    gate.resolve();
    await Promise.all(all);
    expect(peak).toBe(2);
    expect(lanes.stats().a).toMatchObject({ cap: 2, peak: 2 });
  });

  it('an abort rejects a queued task at once but lets a started one finish', async () => {
    const lanes = new Lanes(() => 1);
    const controller = new AbortController();
    const gate = deferred();
    let finished = false;
    const running = lanes.run('a', async () => {
      await gate.promise;
      finished = true;
      return 'recorded';
    }, controller.signal);
    let queuedStarted = false;
    const queued = lanes.run('a', async () => void (queuedStarted = true), controller.signal);
    controller.abort();
    await expect(queued).rejects.toMatchObject({ name: 'AbortError' });
    expect(finished).toBe(false);
    gate.resolve();
    await expect(running).resolves.toBe('recorded');
    expect(queuedStarted).toBe(false);
  });

  it('a paused lane starts nothing until the pause ends', async () => {
    const lanes = new Lanes(() => 4);
    lanes.pause('a', 60);
    const started: number[] = [];
    const t0 = Date.now();
    await lanes.run('a', async () => void started.push(Date.now() - t0));
    expect(started[0]).toBeGreaterThanOrEqual(50);
    lanes.close();
  });
});
