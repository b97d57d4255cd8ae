/**
 * Vitest global setup: brings dist/lib up to date before any test runs, so the CLI tests (which
 * run the built bin) never test old code, also in a targeted `npx vitest run test/cli`. A
 * fraction of a second when it is current; npm test builds the declarations and editor too.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export default function buildFirst(): void {
  const r = spawnSync(process.execPath, [join(__dirname, '..', '..', 'scripts', 'build.mjs'), '--js'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`building dist/lib failed (exit ${r.status}): see the errors above`);
}
