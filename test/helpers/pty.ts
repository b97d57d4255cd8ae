/**
 * Runs the real `fluxgraph` CLI on a pseudo-terminal, as a person at a terminal would: util-linux
 * `script` gives the child a pty (so stdout and stdin are TTYs), and what is written to `send`
 * is typed into it (Ctrl-C is "\x03", which the terminal turns into SIGINT).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { cleanEnv, ROOT } from './cli';

export interface PtyResult {
  code: number | null;
  /** Everything the terminal showed (stdout and stderr together, with \r\n line ends). */
  output: string;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function cliOnPty(
  args: string[],
  opts: { cwd: string; env?: Record<string, string>; onOutput?: (output: string, send: (text: string) => void) => void },
): Promise<PtyResult> {
  const command = [process.execPath, join(ROOT, 'bin/fluxgraph.mjs'), ...args].map(quote).join(' ');
  return new Promise((resolve) => {
    // -e: script exits with the child's code; -f: flush at once; -q: no "Script started" lines.
    const child = spawn('script', ['-qfec', `stty cols 200 2>/dev/null; exec ${command}`, '/dev/null'], { cwd: opts.cwd, env: cleanEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
    // The terminal may be gone when a last keystroke is typed: that is not the test's failure.
    child.stdin!.on('error', () => undefined);
    let output = '';
    const send = (text: string) => void child.stdin!.write(text);
    const take = (d: Buffer) => {
      output += d;
      opts.onOutput?.(output, send);
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** The terminal's text without colours and cursor moves, as lines. */
export function screenLines(output: string): string[] {
  return output
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .split(/\r?\n/)
    .map((l) => l.replace(/\r/g, '').trimEnd());
}
