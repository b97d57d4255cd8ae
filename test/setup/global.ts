/**
 * Vitest global setup: every test run gets one temporary folder (TMPDIR points at it, so
 * os.tmpdir() in workers and in spawned CLIs lands there), and the teardown fails the run when
 * a test left files, processes or mounts behind.
 */
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

let root = '';
let outerTmp = '';

/** Processes (other than this one) whose environment points TMPDIR at this run's folder. */
function processesUsing(folder: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
      if (!env.includes(`TMPDIR=${folder}`)) continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
      // Vitest's own workers may still be winding down.
      if (/vitest/.test(cmd) && !/fluxgraph\.mjs/.test(cmd)) continue;
      found.push(`${pid} ${cmd.slice(0, 120) || readlinkSync(`/proc/${pid}/exe`)}`);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

function mountsUnder(folder: string): string[] {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m): m is string => m !== undefined && (m === folder || m.startsWith(folder + '/')));
  } catch {
    return [];
  }
}

export function setup(_project: TestProject): void {
  outerTmp = tmpdir();
  root = join(outerTmp, `fluxgraph-test-run-${process.pid}-${Date.now().toString(36)}`);
  mkdirSync(root, { recursive: true });
  process.env.TMPDIR = root;
}

export async function teardown(): Promise<void> {
  if (!root) return;
  // Give processes that were sent a signal in the last test a moment to exit.
  let procs = processesUsing(root);
  for (let i = 0; i < 20 && procs.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    procs = processesUsing(root);
  }
  const mounts = mountsUnder(root);
  // tsx (which runs the CLI children) keeps its compile cache in the temp dir: a cache, not a leak.
  const left = readdirSync(root).filter((name) => !/^tsx-\d+$/.test(name));
  process.env.TMPDIR = outerTmp;
  if (!mounts.length) rmSync(root, { recursive: true, force: true });
  const problems = [
    ...(left.length ? [`${left.length} temporary entr${left.length === 1 ? 'y' : 'ies'} left in the temp dir: ${left.slice(0, 10).join(', ')}${left.length > 10 ? ', ...' : ''}`] : []),
    ...(procs.length ? [`${procs.length} process(es) left running:\n    ${procs.join('\n    ')}`] : []),
    ...(mounts.length ? [`mounts left behind: ${mounts.join(', ')}`] : []),
  ];
  if (problems.length) throw new Error(`the test run left things behind:\n  ${problems.join('\n  ')}`);
}
