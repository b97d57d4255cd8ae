#!/usr/bin/env node
/**
 * Builds what `bin/fluxgraph.mjs` and `import 'fluxgraph'` run: the engine, nodes and CLI
 * bundled by esbuild into dist/lib (ES modules; dependencies stay imports), their type
 * declarations into dist/types, and the editor into dist/editor. `npm install` runs it
 * (`prepare`), and so does `npm test`.
 *
 * Bundled rather than compiled file by file (tsc with rewriteRelativeImportExtensions would need
 * every import in the sources rewritten with a .ts extension): the sources import without
 * extensions (bundler resolution), which Node's ESM loader refuses, and a bundle also starts
 * faster (a handful of files to load, not two hundred). Each command is its own chunk, which
 * the CLI imports only when that command runs.
 *
 * Every step is skipped when its output is current (a fingerprint of its sources in a stamp
 * file), so a repeated build takes a fraction of a second. `--check` only reports whether
 * dist/lib and dist/types are current (exit 1 if not); `--js` builds dist/lib alone (a fraction
 * of a second; the declarations take tsc several); `--force` rebuilds everything.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LIB = join(ROOT, 'dist', 'lib');
const TYPES = join(ROOT, 'dist', 'types');
/** Each output folder's stamp: the fingerprint of the sources it was built from. */
const STAMPS = { lib: join(LIB, 'build.json'), types: join(TYPES, 'build.json') };

/**
 * Two bundles. The CLI's (`bin/fluxgraph.mjs` runs dist/lib/cli.js) includes its pure-JS
 * dependencies (zod, jsonc-parser, p-queue): loading zod as one chunk instead of its hundred
 * files is most of what `validate` spends starting. The library's (dist/lib/index.js) keeps
 * every dependency an import, so a program that defines its own nodes shares its zod with ours.
 * Every other package (native ones like sharp and better-sqlite3, the AWS SDK, team mode's
 * clients bullmq, ioredis and pg, vite for `serve --dev`, whatever is added later) stays an
 * import in both.
 */
const CLI_INLINE = ['zod', 'jsonc-parser', 'p-queue'];

/** Keeps every package our sources import external, except `names` (and what those import). */
function inlineOnly(names) {
  const packageOf = (spec) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
  return {
    name: 'inline-only',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, ({ path, importer }) =>
        importer.includes('/node_modules/') || names.includes(packageOf(path)) ? undefined : { path, external: true },
      );
    },
  };
}

const BUNDLES = [
  // The embedded emulator's render thread is its own entry: engine/emulator/render-pool.ts loads it by file name.
  { entryPoints: { cli: 'engine/cli/main.ts', 'emulator-render-worker': 'engine/emulator/render-worker.ts' }, chunkNames: 'cli-chunks/[name]-[hash]', plugins: [inlineOnly(CLI_INLINE)] },
  { entryPoints: { index: 'engine/index.ts', 'editor-assets': 'engine/server/editor-assets.ts' }, chunkNames: 'chunks/[name]-[hash]', packages: 'external' },
];

/** What dist/lib and dist/types are made from (folders are read recursively). */
const SOURCES = ['engine', 'nodes', 'editor/api', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs'];

function listFiles(path) {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((name) => listFiles(join(path, name)));
}

function libFingerprint() {
  const h = createHash('sha256');
  const files = SOURCES.flatMap((s) => listFiles(join(ROOT, s))).sort();
  for (const f of files) h.update(`${relative(ROOT, f)}\0`).update(readFileSync(f)).update('\0');
  return h.digest('hex').slice(0, 16);
}

function readStamp(which) {
  try {
    return JSON.parse(readFileSync(STAMPS[which], 'utf8')).fingerprint;
  } catch {
    return undefined;
  }
}

async function bundle() {
  const esbuild = await import('esbuild');
  const common = {
    absWorkingDir: ROOT,
    outdir: LIB,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.19',
    // ES module builds of dependencies where they ship both (jsonc-parser's UMD build cannot be bundled as ESM).
    mainFields: ['module', 'main'],
    sourcemap: 'linked',
    logLevel: 'warning',
  };
  await Promise.all(BUNDLES.map((b) => esbuild.build({ ...common, ...b })));
}

/**
 * Declarations of the library's public API, made by tsc (dist/types mirrors the source tree).
 * The sources' extensionless relative imports are rewritten to `.js` in them, so consumers
 * using `nodenext` resolution can follow them as well as those using `bundler`.
 */
function declarations() {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`tsc could not write the type declarations (exit ${r.status})`);
  for (const file of listFiles(TYPES).filter((f) => f.endsWith('.d.ts'))) {
    const src = readFileSync(file, 'utf8');
    const out = src.replace(/(\bfrom\s+|\bimport\(\s*)(['"])(\.{1,2}\/[^'"]*)\2/g, (all, lead, q, spec) => {
      if (/\.(js|mjs|json)$/.test(spec)) return all;
      const base = resolve(dirname(file), spec);
      if (existsSync(`${base}.d.ts`)) return `${lead}${q}${spec}.js${q}`;
      if (existsSync(join(base, 'index.d.ts'))) return `${lead}${q}${spec}/index.js${q}`;
      throw new Error(`${relative(ROOT, file)}: cannot resolve ${spec} among the declarations`);
    });
    if (out !== src) writeFileSync(file, out);
  }
}

/** Rebuilds one output folder unless its stamp matches; the stamp is written last, so an interrupted build is redone. */
async function step(which, dir, fingerprint, force, make) {
  if (!force && readStamp(which) === fingerprint) return false;
  rmSync(dir, { recursive: true, force: true });
  await make();
  writeFileSync(STAMPS[which], JSON.stringify({ fingerprint, builtAt: new Date().toISOString() }) + '\n');
  return true;
}

async function buildEditor(force) {
  const { buildEditorDist } = await import(pathToFileURL(join(LIB, 'editor-assets.js')).href);
  return (await buildEditorDist(ROOT, { ifStale: !force })).built;
}

async function main(args) {
  const fingerprint = libFingerprint();
  if (args.includes('--check')) {
    const stale = Object.keys(STAMPS).filter((which) => readStamp(which) !== fingerprint);
    if (!stale.length) return 0;
    process.stderr.write(`dist/${stale.join(' and dist/')} ${stale.length > 1 ? 'are' : 'is'} older than the sources (engine/, nodes/, …) or missing: run npm run build (npm install and npm test do it)\n`);
    return 1;
  }
  const force = args.includes('--force');
  const started = Date.now();
  const did = [];
  if (await step('lib', LIB, fingerprint, force, bundle)) did.push('dist/lib');
  // `--js`: only what the CLI runs (the test suite's setup uses it, so a targeted test run skips the slow parts).
  if (!args.includes('--js')) {
    if (await step('types', TYPES, fingerprint, force, declarations)) did.push('dist/types');
    if (await buildEditor(force)) did.push('dist/editor');
  }
  process.stdout.write(did.length ? `fluxgraph: built ${did.join(', ')} in ${((Date.now() - started) / 1000).toFixed(1)} s\n` : 'fluxgraph: build is current\n');
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
