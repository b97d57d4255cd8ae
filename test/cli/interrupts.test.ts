/**
 * How a run ends when it is stopped from outside, with real processes: output piped into a
 * command that closes early (`| head -1`), SIGTERM, and Ctrl-C typed on a real terminal. No stack
 * trace; the run stops as if interrupted, what was submitted is recorded, the ledger marks it
 * resumable, the exit code is 130 and the last line is the resume command. The emulator is a
 * separate server (its tasks outlive the CLI), the ledger is the real SQLite file.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { cleanEnv, cli, ROOT } from '../helpers/cli';
import { cliOnPty, screenLines } from '../helpers/pty';
import { tempDir } from '../helpers/tmp';

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 1_500 });
});
afterAll(() => emulator.close());
beforeEach(() => {
  emulator.reset();
  emulator.setFaults({});
  emulator.setLatency(1_500);
});
const env = () => ({ BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: 'interrupt-key' });

const PIPELINE = {
  version: 1,
  name: 'interrupts',
  nodes: [
    { id: 'idea', type: 'prompt', params: { text: 'a lighthouse in fog' } },
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 256, height: 256, count: 3, steps: 4 } },
    { id: 'save', type: 'save-image', params: { template: '{run}/{node}-{index}' } },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
};

function project(): string {
  const cwd = tempDir();
  writeFileSync(join(cwd, 'p.json'), JSON.stringify(PIPELINE));
  return cwd;
}

async function listed(cwd: string, runId: string): Promise<{ status: string; resumable: boolean; calls: number }> {
  const r = await cli(['runs', '--json'], { cwd, env: env() });
  return (JSON.parse(r.stdout) as { runId: string; status: string; resumable: boolean; calls: number }[]).find((x) => x.runId === runId)!;
}

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';

describe('output piped into a command that closes early', () => {
  it('`run ... | head -1`: no EPIPE stack trace; the run stops as interrupted (resumable), exits 130, and a resume finishes it paying each task once', async () => {
    const cwd = project();
    const bin = join(ROOT, 'bin/fluxgraph.mjs');
    // A real shell pipeline: head prints the first JSON event and exits, closing the pipe.
    const script = `"${process.execPath}" "${bin}" run p.json --out out 2>err.txt | head -1 > first.txt; echo \${PIPESTATUS[0]} > code.txt`;
    await new Promise<void>((resolve, reject) => {
      const child = spawn('bash', ['-c', script], { cwd, env: cleanEnv(env()), stdio: 'ignore' });
      child.on('error', reject);
      child.on('close', () => resolve());
    });
    const stderr = readFileSync(join(cwd, 'err.txt'), 'utf8');
    expect(stderr).not.toMatch(/EPIPE|node:events|\n\s+at /);
    expect(readFileSync(join(cwd, 'code.txt'), 'utf8').trim()).toBe('130');
    const first = JSON.parse(readFileSync(join(cwd, 'first.txt'), 'utf8')) as Extract<RunEvent, { type: 'runStart' }>;
    expect(first.type).toBe('runStart');
    const runId = first.runId;
    expect(stderr).toMatch(/Output closed .*stopped as if interrupted/);
    expect(lastLine(stderr)).toBe(`Resume with: npx fluxgraph run --resume ${runId}`);
    expect(await listed(cwd, runId)).toMatchObject({ status: 'interrupted', resumable: true });

    const resumed = await cli(['run', '--resume', runId, '--json'], { cwd, env: env() });
    expect(resumed.code).toBe(0);
    expect(await listed(cwd, runId)).toMatchObject({ status: 'done', resumable: false });
    expect(emulator.duplicateSubmissions()).toEqual([]);
    expect(emulator.stats().submissions.bfl).toBe(3);
  });
});

describe('SIGTERM behaves like Ctrl-C', () => {
  it('stops submitting, records the submits on the wire, exits 130 as cancelled (resumable), the resume command last', async () => {
    const cwd = project();
    let runId = '';
    let sent = false;
    const r = await cli(['run', 'p.json', '--json', '--out', 'out', '--concurrency', 'bfl=1'], {
      cwd,
      env: env(),
      onLine: (line, child) => {
        const e = JSON.parse(line) as RunEvent;
        if (e.type === 'runStart') runId = e.runId;
        if (!sent && e.type === 'nodeProgress' && /: submitted$/.test(e.status ?? '')) {
          sent = true;
          child.kill('SIGTERM');
        }
      },
    });
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/Interrupted: no new submissions/);
    expect(lastLine(r.stderr)).toBe(`Resume with: npx fluxgraph run --resume ${runId}`);
    const done = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as RunEvent).at(-1)!;
    expect(done).toMatchObject({ type: 'runDone', summary: { status: 'cancelled' } });
    // One lane slot: the first task was on the wire, the other two were never sent.
    expect(emulator.stats().submissions.bfl).toBe(1);
    expect(await listed(cwd, runId)).toMatchObject({ status: 'cancelled', resumable: true, calls: 1 });
  });
});

describe('Ctrl-C on a terminal', () => {
  it('the summary comes first and the last line on the screen is the resume command', async () => {
    const cwd = project();
    let typed = false;
    const r = await cliOnPty(['run', 'p.json', '--out', 'out', '--concurrency', 'bfl=1'], {
      cwd,
      env: env(),
      onOutput: (output, send) => {
        // Once the first submit is accepted, the user presses Ctrl-C.
        if (!typed && emulator.stats().submissions.bfl >= 1 && /drafts/.test(output)) {
          typed = true;
          send('\x03');
        }
      },
    });
    expect(r.code).toBe(130);
    const lines = screenLines(r.output).filter((l) => l.trim() !== '');
    const runId = /Run (\S+): if it is interrupted/.exec(r.output)?.[1];
    expect(runId).toBeTruthy();
    expect(lines.at(-1)).toBe(`Resume with: npx fluxgraph run --resume ${runId}`);
    expect(lines.some((l) => l.startsWith(`Run ${runId} cancelled`))).toBe(true);
  });
});
