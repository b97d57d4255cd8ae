/**
 * How the poller learns a provider's latency without callbacks, pinned with a deterministic
 * simulation: tasks with a known latency run through the real `PollSchedule` and `LatencyBook`
 * on a virtual clock (no timers, no timing assertions), `cap` at a time as a lane runs them.
 * Counted: status requests per task, and how long each task holds its lane slot (submit to the
 * poll that finds it done) against its latency.
 */
import { describe, expect, it } from 'vitest';
import { pollSettings } from '../../engine/providers/poll';
import { LatencyBook, PollSchedule } from '../../engine/providers/poll-schedule';

const settings = pollSettings({ jitter: 0 });

interface Outcome {
  polls: number;
  /** Submit → the poll that found it done, ÷ its latency. */
  hold: number;
}

interface SimTask {
  t0: number;
  latency: number;
  schedule: PollSchedule;
  polls: number;
  at: number;
  /** Stops the re-timing subscription (waiting for the first poll). */
  stop?: () => void;
}

/**
 * Runs `count` tasks through the book, `cap` at a time; `latency(i)` is task i's latency in ms.
 * Tasks waiting for their first poll are re-timed when the book says the estimate fell, as
 * `pollTask` does.
 */
function simulate(book: LatencyBook, count: number, cap: number, latency: (i: number) => number): Outcome[] {
  const model = book.model('flex');
  const out: Outcome[] = [];
  const live = new Set<SimTask>();
  let now = 0;
  let started = 0;
  const start = () => {
    if (started >= count) return;
    const i = started++;
    const schedule = new PollSchedule(settings, now, false, book, model);
    const task: SimTask = { t0: now, latency: latency(i), schedule, polls: 0, at: schedule.first(now) };
    task.stop = schedule.onRetime(() => (task.at = Math.min(task.at, schedule.first(now))));
    live.add(task);
    out[i] = { polls: 0, hold: 0 };
    (task as SimTask & { index: number }).index = i;
  };
  for (let i = 0; i < cap; i++) start();
  while (live.size) {
    let next: SimTask | undefined;
    for (const t of live) if (!next || t.at < next.at) next = t;
    const task = next!;
    now = Math.max(now, task.at);
    task.polls++;
    task.stop?.();
    task.stop = undefined;
    const i = (task as SimTask & { index: number }).index;
    if (now >= task.t0 + task.latency) {
      live.delete(task);
      task.schedule.settled({ by: 'poll', at: now });
      out[i] = { polls: task.polls, hold: (now - task.t0) / task.latency };
      start();
    } else task.at = task.schedule.afterPending(now, now);
  }
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const polls = (o: Outcome[]) => mean(o.map((x) => x.polls));
const hold = (o: Outcome[]) => mean(o.map((x) => x.hold));

describe('first-poll estimate without callbacks', () => {
  it('at a steady latency, asks at most 1.5 times per task and holds the slot at most 5% longer than the task took', () => {
    const book = new LatencyBook();
    simulate(book, 50, 50, () => 1_000);
    const run = simulate(book, 600, 50, () => 1_000);
    expect(polls(run)).toBeLessThanOrEqual(1.5);
    expect(hold(run)).toBeLessThanOrEqual(1.05);
  });

  it('comes down within a few rounds of the lane after learning a latency six times too long', () => {
    const book = new LatencyBook();
    simulate(book, 50, 50, () => 6_000);
    const run = simulate(book, 600, 50, () => 1_000);
    // A deep probe cuts the estimate within the first round; each round's probes close in on the rest.
    expect(hold(run.slice(0, 50))).toBeLessThan(2);
    expect(hold(run.slice(250))).toBeLessThanOrEqual(1.05);
    expect(polls(run)).toBeLessThanOrEqual(1.5);
  });

  it('goes up again when tasks take longer', () => {
    const book = new LatencyBook();
    simulate(book, 50, 50, () => 1_000);
    const run = simulate(book, 600, 50, () => 3_000);
    expect(hold(run.slice(250))).toBeLessThanOrEqual(1.05);
    expect(polls(run.slice(250))).toBeLessThanOrEqual(1.5);
  });

  it('learns nothing from a first poll that finds the task done at the expected time (it only bounds the latency from above)', () => {
    const book = new LatencyBook();
    const model = book.model('flex');
    simulate(book, 200, 50, () => 1_000);
    const learned = model.expected()!;
    // Tasks far quicker than that, each found done by its first poll: only the probes among
    // them (asking early) may lower the estimate; the others say nothing new.
    let regular = 0;
    for (let i = 0; i < 40; i++) {
      const s = new PollSchedule(settings, 0, false, book, model);
      const at = s.first(0);
      if (at < learned) continue;
      regular++;
      s.settled({ by: 'poll', at });
      expect(model.expected()).toBe(learned);
    }
    expect(regular).toBeGreaterThan(30);
  });

  it('lets a probe that finds its task done early cap the estimate at once, and re-times tasks waiting for their first poll', () => {
    const book = new LatencyBook();
    const model = book.model('flex');
    simulate(book, 50, 50, () => 4_000);
    const waiting = new PollSchedule(settings, 0, false, book, model);
    const planned = waiting.first(0);
    let woken = 0;
    waiting.onRetime(() => woken++);
    // Find a deep probe (it asks at a quarter or half of the estimate) and let it find its task done.
    let probe: PollSchedule | undefined;
    for (let i = 0; i < 64 && !probe; i++) {
      const s = new PollSchedule(settings, 0, false, book, model);
      if (s.first(0) <= planned * 0.55) probe = s;
    }
    expect(probe).toBeDefined();
    probe!.settled({ by: 'poll', at: probe!.first(0) });
    expect(model.expected()!).toBeLessThanOrEqual(planned * 0.55);
    expect(woken).toBe(1);
    expect(waiting.first(0)).toBeLessThan(planned * 0.6);
  });
});
