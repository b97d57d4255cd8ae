/** `fluxgraph runs` (history with status and cost) and `fluxgraph prune` (the store and old runs). */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadEnv } from '../host/env';
import { FileArtifactStore } from '../store/artifacts';
import { Ledger } from '../store/ledger';
import { EXIT, fail } from './exit';
import { cacheDirOf } from './cli-host';

export async function commandRuns(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'cache-dir': { type: 'string' }, json: { type: 'boolean' }, limit: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) return (process.stdout.write('Usage: fluxgraph runs [--json] [--limit N] [--cache-dir DIR]\n'), EXIT.ok);
  const limit = Number(values.limit ?? 50);
  if (!Number.isInteger(limit) || limit < 1) return fail(`--limit ${values.limit}: expected a whole number of runs`);
  const ledger = Ledger.open(resolve(cacheDirOf(values['cache-dir'], loadEnv(process.cwd())), 'ledger.sqlite'));
  try {
    const runs = ledger.listRuns(limit).map(({ pipeline: _omit, ...r }) => r);
    if (values.json) {
      process.stdout.write(JSON.stringify(runs) + '\n');
      return EXIT.ok;
    }
    if (!runs.length) {
      process.stdout.write('No runs yet.\n');
      return EXIT.ok;
    }
    process.stdout.write(`${'run id'.padEnd(24)} ${'pipeline'.padEnd(22)} ${'status'.padEnd(10)} ${'started'.padEnd(20)} images  failed  cost\n`);
    for (const r of runs) {
      const started = new Date(r.startedAt).toISOString().replace('T', ' ').slice(0, 19);
      process.stdout.write(
        `${r.runId.padEnd(24)} ${(r.name ?? '-').slice(0, 22).padEnd(22)} ${r.status.padEnd(10)} ${started.padEnd(20)} ${String(r.images).padStart(6)}  ${String(r.failures).padStart(6)}  $${r.costUsd.toFixed(4)}\n`,
      );
    }
    return EXIT.ok;
  } finally {
    ledger.close();
  }
}

export async function commandPrune(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { 'cache-dir': { type: 'string' }, 'older-than': { type: 'string' }, 'dry-run': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) return (process.stdout.write('Usage: fluxgraph prune [--older-than DAYS (default 30)] [--dry-run] [--cache-dir DIR]\n'), EXIT.ok);
  const days = Number(values['older-than'] ?? 30);
  if (!Number.isFinite(days) || days < 0) return fail(`--older-than ${values['older-than']}: expected a number of days`);
  const dir = cacheDirOf(values['cache-dir'], loadEnv(process.cwd()));
  const ledger = Ledger.open(resolve(dir, 'ledger.sqlite'));
  try {
    const dry = values['dry-run'] === true;
    const forgotten = dry ? 0 : ledger.forgetRunsBefore(Date.now() - days * 86_400_000);
    const keep = ledger.referencedHashes();
    const store = new FileArtifactStore(resolve(dir, 'store'));
    let files = 0;
    let bytes = 0;
    for (const a of await store.list()) {
      if (keep.has(a.hash)) continue;
      files++;
      bytes += a.bytes;
      if (!dry) await store.remove(a.hash);
    }
    process.stdout.write(
      `${dry ? 'Would remove' : 'Removed'} ${files} stored file${files === 1 ? '' : 's'} (${(bytes / 1048576).toFixed(1)} MB) no run refers to${dry ? '' : `, and forgot ${forgotten} run${forgotten === 1 ? '' : 's'} older than ${days} days`}. Results of the remaining runs are kept for the cache.\n`,
    );
    return EXIT.ok;
  } finally {
    ledger.close();
  }
}
