import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadEnv } from '../../engine/host/env';
import { tempDir } from '../helpers/tmp';

describe('loadEnv', () => {
  it('reads a .env file and lets the process environment win', () => {
    const dir = tempDir('fluxgraph-env-');
    writeFileSync(join(dir, '.env'), '# keys\nBFL_API_KEY=from-file\nKIE_API_KEY="quoted value"\n');
    const env = loadEnv(dir, { BFL_API_KEY: 'from-process', PATH: '/bin' });
    expect(env.BFL_API_KEY).toBe('from-process');
    expect(env.KIE_API_KEY).toBe('quoted value');
    expect(env.PATH).toBe('/bin');
  });

  it('works without a .env file', () => {
    const dir = tempDir('fluxgraph-env-');
    expect(loadEnv(dir, { A: '1' })).toEqual({ A: '1' });
  });
});
