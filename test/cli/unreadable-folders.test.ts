/**
 * A cache or output folder this user cannot read or write is one line and exit 2 before anything
 * starts, never a stack trace. Root may read and write anything, so when the suite runs as root
 * the CLI is started as the unprivileged user "nobody" (setpriv from util-linux), as a real user
 * would meet the problem; otherwise it runs as the current user.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanEnv, ROOT } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

const asRoot = process.getuid?.() === 0;
const locked: string[] = [];
afterEach(() => {
  // Put the modes back, so the temp folders can be removed by a non-root user too.
  for (const p of locked.splice(0)) chmodSync(p, 0o755);
});

/** A project folder nobody can reach (every folder above it traversable), with a valid pipeline. */
function project(): string {
  const cwd = tempDir();
  for (let d = cwd; d !== dirname(d) && d.startsWith(dirname(dirname(cwd))); d = dirname(d)) chmodSync(d, 0o755);
  writeFileSync(
    join(cwd, 'p.json'),
    JSON.stringify({
      version: 1,
      nodes: [
        { id: 'idea', type: 'prompt', params: { text: 'a kite' } },
        { id: 'drafts', type: 'flux-flex-generate', params: { width: 256, height: 256, seed: 1 } },
      ],
      edges: [{ source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' }],
    }),
  );
  chmodSync(join(cwd, 'p.json'), 0o644);
  return cwd;
}

function lockedFolder(cwd: string, name: string, mode: number): string {
  const dir = join(cwd, name);
  mkdirSync(dir);
  chmodSync(dir, mode);
  locked.push(dir);
  return dir;
}

function runAsUser(args: string[], cwd: string) {
  const node = [process.execPath, join(ROOT, 'bin/fluxgraph.mjs'), ...args];
  const [cmd, ...rest] = asRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...node] : node;
  return spawnSync(cmd, rest, { cwd, env: cleanEnv({ HOME: cwd }), encoding: 'utf8' });
}

describe('folders this user cannot use', () => {
  it('an unreadable cache folder: one line naming it, exit 2, no stack trace', () => {
    const cwd = project();
    const cache = lockedFolder(cwd, 'cache', 0o000);
    const r = runAsUser(['estimate', 'p.json', '--cache-dir', cache], cwd);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^fluxgraph: cache folder \\(--cache-dir or FLUXGRAPH_CACHE_DIR\\) ${cache}: (permission denied|cannot write)`, 'm'));
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('an output folder it cannot write in: validate and run refuse it before anything is spent', () => {
    const cwd = project();
    const out = lockedFolder(cwd, 'out', 0o555);
    // A cache folder the user may write in, so only --out is wrong.
    const cache = lockedFolder(cwd, 'cache-ok', 0o777);
    for (const command of ['validate', 'run']) {
      const r = runAsUser([command, 'p.json', '--out', out, '--cache-dir', cache], cwd);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`output folder \\(--out\\) ${out}: cannot write in ${out} \\(permission denied\\)`));
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
