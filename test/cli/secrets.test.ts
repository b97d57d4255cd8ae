/** A key given to the CLI appears nowhere it writes: output, events, sidecars, images, ledger. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { cli, ROOT } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

const GOOD = 'sk-live-GOODKEY-7f3a9c1e5b2d4a6c8e0f1a3b5c7d9e1f';
const BAD = 'sk-live-BADKEY-0e2c4a6b8d1f3e5a7c9b1d3f5a7c9e1b';
let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 100, validKeys: [GOOD] });
});
afterAll(() => emulator.close());

function everyFile(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? everyFile(path) : [path];
  });
}

describe('secrets', () => {
  it.each([
    ['a working key', GOOD, 0],
    ['a refused key', BAD, 1],
  ])('%s never appears in output, files or the ledger', async (_n, key, code) => {
    const cwd = tempDir();
    const r = await cli(['run', join(ROOT, 'examples/draft-then-refine.json'), '--json', '--out', 'out'], { cwd, env: { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: key } });
    expect(r.code).toBe(code);
    if (code === 1) expect(r.stdout).toMatch(/"code":"auth"/);
    const written = everyFile(cwd);
    expect(written.some((f) => f.endsWith("ledger.sqlite"))).toBe(true);
    if (code === 0) expect(written.filter((f) => f.endsWith(".jpg"))).toHaveLength(6);
    for (const text of [r.stdout, r.stderr, ...written.map((f) => readFileSync(f).toString('latin1'))]) {
      expect(text.includes(key)).toBe(false);
      expect(text.includes(key.slice(8, 30))).toBe(false);
    }
  });
});
