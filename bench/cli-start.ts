/**
 * CLI start time (issue 11): wall time of `node bin/fluxgraph.mjs --help` (target ≤ 150 ms) and of
 * `node bin/fluxgraph.mjs validate examples/draft-then-refine.json` (≤ 300 ms), the median of
 * several runs, beside `node -e 0` on the same machine. Runs the built CLI (npm run build).
 * Standalone: `npx tsx bench/cli-start.ts`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'fluxgraph.mjs');

export interface StartFigure {
  what: string;
  medianMs: number;
  minMs: number;
  /** Mean CPU (user + system) of one run: unlike wall time, barely moved by other load on the machine. */
  cpuMs?: number;
  targetMs?: number;
  runs: number;
}

export interface CliStartResult {
  figures: StartFigure[];
  loadAvg: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** CPU time of this process's reaped children so far (Linux /proc; undefined elsewhere), in ms. */
function childrenCpuMs(): number | undefined {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    // Fields 16 and 17 of stat (cutime, cstime), in clock ticks of 10 ms.
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return undefined;
  }
}

function timeRuns(args: string[], runs: number): { times: number[]; cpuMs?: number } {
  const times: number[] = [];
  let cpuBefore: number | undefined;
  // One unmeasured run warms the file-system cache.
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.toString().slice(0, 500)}`);
    if (i > 0) times.push(ms);
    else cpuBefore = childrenCpuMs();
  }
  const cpuAfter = childrenCpuMs();
  return { times, ...(cpuBefore !== undefined && cpuAfter !== undefined ? { cpuMs: Math.round((cpuAfter - cpuBefore) / runs) } : {}) };
}

export function measureCliStart(options: { runs?: number; log?: (line: string) => void } = {}): CliStartResult {
  const runs = options.runs ?? 11;
  const cases: { what: string; args: string[]; targetMs?: number }[] = [
    { what: 'node -e 0', args: ['-e', '0'] },
    { what: 'fluxgraph --help', args: [BIN, '--help'], targetMs: 150 },
    { what: 'fluxgraph validate examples/draft-then-refine.json', args: [BIN, 'validate', 'examples/draft-then-refine.json'], targetMs: 300 },
  ];
  const figures = cases.map((c) => {
    options.log?.(`cli start: ${c.what} × ${runs}`);
    const { times: t, cpuMs } = timeRuns(c.args, runs);
    return { what: c.what, medianMs: Math.round(median(t)), minMs: Math.round(Math.min(...t)), runs, ...(cpuMs !== undefined ? { cpuMs } : {}), ...(c.targetMs ? { targetMs: c.targetMs } : {}) };
  });
  return { figures, loadAvg: Number(loadavg()[0].toFixed(2)) };
}

export function formatCliStart(r: CliStartResult): string {
  return [
    `CLI start (median of ${r.figures[0]?.runs} runs, load average ${r.loadAvg}):`,
    ...r.figures.map(
      (f) =>
        `  ${f.what.padEnd(52)} ${String(f.medianMs).padStart(5)} ms (min ${f.minMs}${f.cpuMs !== undefined ? `, CPU ${f.cpuMs}` : ''})${f.targetMs ? `  target ≤ ${f.targetMs} ms: ${f.medianMs <= f.targetMs ? 'met' : 'missed'}` : ''}`,
    ),
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(formatCliStart(measureCliStart({ log: (l) => console.error(l) })));
}
