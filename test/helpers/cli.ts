/** Runs the real `fluxgraph` CLI as a child process, as a user would: bin/fluxgraph.mjs, which runs the build in dist/lib (npm test builds it first; test/build checks it is current). */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { tempDir } from './tmp';

export const ROOT = resolve(__dirname, '../..');
const BIN = join(ROOT, 'bin/fluxgraph.mjs');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** No provider keys or fluxgraph settings from the outer environment leak into the child. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/_API_KEY$|_BASE_URL$|^FLUXGRAPH_/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

export function cli(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; onLine?: (line: string, child: ChildProcess) => void } = {},
): Promise<CliResult> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? tempDir(), env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d;
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) opts.onLine?.(l, child);
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr }));
  });
}

/** stderr without the "Provider bfl: <endpoint>, key from …" lines every run starts with. */
export function withoutProviderLines(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => !l.startsWith('Provider '))
    .join('\n');
}
