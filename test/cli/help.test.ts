/** The CLI explains itself: each command's own --help, --version, and strict arguments everywhere. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, ROOT } from '../helpers/cli';

const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('fluxgraph help', () => {
  it.each([
    ['run', ['--budget USD', '--resume RUN_ID', '--only NODE', '--no-cache', '--concurrency provider=N', '--timeout SEC', '--out DIR']],
    ['validate', ['--provider NAME', '--set node.param=VALUE', '--json']],
    ['estimate', ['--only NODE', '--no-cache', '--cache-dir DIR']],
    ['nodes', ['--json']],
    ['schema', ['$schema']],
    ['runs', ['--limit N']],
    ['prune', ['--older-than DAYS', '--dry-run']],
  ])('%s --help prints that command’s own usage and options, exit 0', async (command, options) => {
    for (const flag of ['--help', '-h']) {
      const r = await cli([command, flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.startsWith(`Usage: fluxgraph ${command}`)).toBe(true);
      for (const o of options) expect(r.stdout).toContain(o);
    }
  });

  it('does not offer run-only options in validate --help', async () => {
    const r = await cli(['validate', '--help']);
    expect(r.stdout).not.toContain('--budget');
    expect(r.stdout).not.toContain('--resume');
  });

  it('--help after a pipeline file still prints the help and runs nothing', async () => {
    const r = await cli(['run', 'examples/draft-then-refine.json', '--help'], { cwd: ROOT });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: fluxgraph run/);
    expect(r.stderr).toBe('');
  });

  it.each(['--version', '-v'])('%s prints the version from package.json', async (flag) => {
    const r = await cli([flag]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${version}\n`);
  });

  it('the general --help points to each command’s own help and lists --version', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Each command's --help lists its options.");
    expect(r.stdout).toContain('fluxgraph --version');
  });

  it.each([
    [['nodes', 'extra'], /Unexpected argument 'extra'/],
    [['nodes', '--bogus'], /Unknown option '--bogus'/],
    [['schema', 'extra'], /Unexpected argument 'extra'/],
    [['schema', '--json'], /Unknown option '--json'/],
  ])('refuses unknown arguments: %j exits 2', async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('schema prints the published schema/pipeline.schema.json', async () => {
    const r = await cli(['schema']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(ROOT, 'schema', 'pipeline.schema.json'), 'utf8'));
  });

  it('nodes --json lists every node type as data', async () => {
    const r = await cli(['nodes', '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { type: string }[]).map((d) => d.type)).toContain('flux-max-refine');
  });
});
