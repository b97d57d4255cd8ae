/**
 * The CLI loads a command's dependencies only when that command runs: `--help` and `--version`
 * touch no package (no zod, sharp or SQLite, no ledger), and `validate` starts no emulator and
 * opens no ledger. Checked by recording the modules the real bin imports.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cleanEnv, ROOT } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

const RECORDER = join(ROOT, 'test', 'helpers', 'record-imports.mjs');

function runRecorded(args: string[]) {
  const dir = tempDir();
  const list = join(dir, 'imports.txt');
  const cacheDir = join(dir, 'cache');
  const r = spawnSync(process.execPath, ['--import', RECORDER, join(ROOT, 'bin', 'fluxgraph.mjs'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: cleanEnv({ FLUXGRAPH_TEST_IMPORTS: list, FLUXGRAPH_CACHE_DIR: cacheDir }),
  });
  const urls = existsSync(list) ? readFileSync(list, 'utf8').trim().split('\n') : [];
  const files = urls.filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u));
  return {
    ...r,
    cacheDir,
    packages: [...new Set(files.filter((f) => f.includes('/node_modules/')).map((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)![1]))],
    /** The source files bundled into the loaded chunks (esbuild names them in comments). */
    sources: files.filter((f) => f.includes('/dist/lib/')).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/^\/\/ ((?:engine|nodes)\/\S+\.ts)$/gm)].map((m) => m[1])),
  };
}

describe('the lazy CLI', () => {
  it('the recorder sees what a command loads (SQLite for runs)', () => {
    const r = runRecorded(['runs']);
    expect(r.status).toBe(0);
    expect(r.packages).toContain('better-sqlite3');
    expect(r.sources).toContain('engine/store/ledger.ts');
  });

  it.each(['--help', '--version', 'run --help', 'schema --help'])('%s loads no package and opens no ledger', (command) => {
    const r = runRecorded(command.split(' '));
    expect(r.status).toBe(0);
    expect(r.packages).toEqual([]);
    expect(r.sources).not.toContain('engine/store/ledger.ts');
    expect(existsSync(r.cacheDir)).toBe(false);
  });

  it('validate starts no emulator, opens no ledger and loads neither sharp nor SQLite', () => {
    const r = runRecorded(['validate', 'examples/draft-then-refine.json']);
    expect(r.stdout).toContain('valid');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.sources).toContain('engine/core/validate.ts');
    expect(r.sources.filter((s) => s.startsWith('engine/emulator/'))).toEqual([]);
    expect(r.packages).not.toContain('sharp');
    expect(r.packages).not.toContain('better-sqlite3');
    expect(existsSync(r.cacheDir)).toBe(false);
  });
});
