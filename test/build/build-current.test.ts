/** The CLI tests run the built bin (dist/lib): a build older than its sources would test old code. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli';

describe('the build', () => {
  it('is current with its sources (npm test builds first; npm run build after editing engine/ or nodes/)', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
