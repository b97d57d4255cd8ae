/**
 * The packed package works from another project: `npm pack`, installed into a temporary project
 * (unpacked into its node_modules, with links to this checkout's installed copies of the
 * package's runtime dependencies only, so it takes seconds and needs no network), then
 * imported under plain Node, its bin run, and a TypeScript consumer type-checked under both
 * `nodenext` and `bundler` resolution.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, ROOT } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

let project: string;
let packed: { files: { path: string }[] };
let manifest: { dependencies: Record<string, string>; devDependencies?: Record<string, string> };

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function link(name: string): void {
  const at = join(project, 'node_modules', name);
  mkdirSync(dirname(at), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules', name), at, 'dir');
}

beforeAll(() => {
  // A no-op when npm test has just built; a targeted run builds what it packs.
  ok(spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, encoding: 'utf8' }), 'npm run build');
  const dest = tempDir('fluxgraph-pack-');
  const out = ok(spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], { cwd: ROOT, encoding: 'utf8' }), 'npm pack');
  const [info] = JSON.parse(out) as [{ filename: string; files: { path: string }[] }];
  packed = info;
  project = tempDir('fluxgraph-consumer-');
  const installed = join(project, 'node_modules', 'fluxgraph');
  mkdirSync(installed, { recursive: true });
  ok(spawnSync('tar', ['-xzf', join(dest, info.filename), '-C', installed, '--strip-components=1'], { encoding: 'utf8' }), 'tar');
  manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as typeof manifest;
  for (const dep of Object.keys(manifest.dependencies)) link(dep);
  link('@types/node');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { fluxgraph: '*' } }));
}, 120_000);

describe('the packed package', () => {
  it('ships the built code, its types, the built editor, the examples and the schema, and no sources', () => {
    const paths = packed.files.map((f) => f.path);
    for (const p of ['bin/fluxgraph.mjs', 'dist/lib/index.js', 'dist/lib/cli.js', 'dist/types/engine/index.d.ts', 'dist/editor/index.html', 'examples/draft-then-refine.json', 'schema/pipeline.schema.json', 'README.md']) {
      expect(paths).toContain(p);
    }
    expect(paths.filter((p) => /^(engine|nodes|editor|test|scripts|bench)\//.test(p))).toEqual([]);
  });

  it('needs neither the editor’s packages nor tsx at run time', () => {
    for (const dev of ['react', 'react-dom', '@xyflow/react', 'zustand', '@dagrejs/dagre', 'tsx', 'vite']) expect(Object.keys(manifest.dependencies)).not.toContain(dev);
  });

  it('imports runPipeline and createRunner under plain Node and runs a pipeline on the embedded emulator', () => {
    writeFileSync(
      join(project, 'run.mjs'),
      `import { createRunner, runPipeline } from 'fluxgraph';
if (typeof runPipeline !== 'function') throw new Error('no runPipeline');
const runner = await createRunner({ cacheDir: '.fluxgraph', outDir: 'out', env: {}, onNotice: (line) => console.error(line) });
try {
  const summary = await runner.run({
    version: 1,
    nodes: [
      { id: 'idea', type: 'prompt', params: { text: 'a paper boat' } },
      { id: 'drafts', type: 'flux-flex-generate', params: { width: 256, height: 256, steps: 4, count: 2, seed: 3 } },
      { id: 'save', type: 'save-image', params: {} },
    ],
    edges: [
      { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
      { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
    ],
  });
  console.log(JSON.stringify({ status: summary.status, images: summary.imagesWritten.length, runs: runner.runs().length }));
} finally {
  await runner.close();
}
`,
    );
    const r = spawnSync(process.execPath, ['run.mjs'], { cwd: project, encoding: 'utf8', env: cleanEnv() });
    expect(r.stderr).toMatch(/embedded emulator/);
    expect(JSON.parse(ok(r, 'node run.mjs'))).toEqual({ status: 'done', images: 2, runs: 1 });
  });

  it('runs its bin: --version and validate of a shipped example', () => {
    const bin = join(project, 'node_modules', 'fluxgraph', 'bin', 'fluxgraph.mjs');
    expect(ok(spawnSync(process.execPath, [bin, '--version'], { cwd: project, encoding: 'utf8' }), '--version').trim()).toBe((manifest as unknown as { version: string }).version);
    const example = join(project, 'node_modules', 'fluxgraph', 'examples', 'draft-then-refine.json');
    expect(ok(spawnSync(process.execPath, [bin, 'validate', example], { cwd: project, encoding: 'utf8', env: cleanEnv() }), 'validate')).toMatch(/valid \(6 nodes/);
  });

  it('serves the editor it ships, without vite or the editor’s sources', async () => {
    const bin = join(project, 'node_modules', 'fluxgraph', 'bin', 'fluxgraph.mjs');
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0'], { cwd: project, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((done, fail) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d;
          const m = /fluxgraph editor: (http:\/\/\S+)/.exec(out);
          if (m) done(m[1]);
        });
        child.on('exit', (code) => fail(new Error(`serve exited ${code}`)));
      });
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<div id="root"></div>');
    } finally {
      child.kill('SIGTERM');
      await new Promise((done) => child.once('close', done));
    }
  });

  it.each([
    ['nodenext', { module: 'nodenext', moduleResolution: 'nodenext' }],
    ['bundler', { module: 'esnext', moduleResolution: 'bundler' }],
  ])('type-checks a TypeScript consumer under %s resolution, with real types (not any)', (name, resolution) => {
    writeFileSync(
      join(project, 'consumer.ts'),
      `import { createRunner, runPipeline, type RunSummary, type Runner } from 'fluxgraph';

const runner: Runner = await createRunner({ cacheDir: '.fluxgraph', outDir: 'out', onEvent: (e) => console.log(e.type) });
const summary: RunSummary = await runner.run('pipeline.json', { budgetUsd: 2.5, only: ['refine'] });
const status: 'done' | 'failed' | 'partial' | 'cancelled' = summary.status;
// @ts-expect-error: an option createRunner does not take is refused
await createRunner({ cacheDirectory: '.fluxgraph' });
// @ts-expect-error: a status is not a number
const wrong: number = summary.status;
// @ts-expect-error: runPipeline needs its options
await runPipeline({ version: 1, nodes: [] });
await runner.close();
export { status, wrong };
`,
    );
    const config = join(project, `tsconfig.${name}.json`);
    writeFileSync(config, JSON.stringify({ compilerOptions: { ...resolution, target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files: ['consumer.ts'] }));
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', config], { cwd: project, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
