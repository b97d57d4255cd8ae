/**
 * The editor's files. `npm install` builds the editor into dist/editor (buildEditorDist, through
 * `npm run build`), stamped with a fingerprint of its sources (editor/, engine/core/,
 * vite.config.ts, package-lock.json, this file); `serve` uses it while the fingerprint matches.
 * After a source changes, a checkout rebuilds it with vite on demand into a cache folder named
 * by the new fingerprint (about a second, once). An installed package, which has no editor
 * sources and need not have vite, serves the dist/editor it shipped with. `--dev` serves the sources through vite's
 * middleware instead, with hot reload on the same origin as the API.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { PACKAGE_ROOT } from '../host/package-root';
import { BASE_HEADERS, HttpError } from './http-util';

/** The checkout or installed package (the same from the sources and from dist/lib). */
export const REPO_ROOT = PACKAGE_ROOT;
const STAMP = '.fluxgraph-build.json';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** What the built editor may load: its own scripts, inline styles (React Flow sets style attributes), images from the API. */
export const EDITOR_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'none'; frame-ancestors 'none'";

export interface EditorAssets {
  mode: 'static' | 'dev';
  /** Folder served in static mode. */
  dir?: string;
  /** Serves the request (GET/HEAD); false when it is not an editor file. */
  handle(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean>;
  close(): Promise<void>;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** A hash over everything the editor bundle is made from. */
export async function editorFingerprint(root = REPO_ROOT): Promise<string> {
  const files = [
    ...(await listFiles(join(root, 'editor'))),
    ...(await listFiles(join(root, 'engine', 'core'))),
    join(root, 'vite.config.ts'),
    join(root, 'package-lock.json'),
    // The build recipe itself (its source, also when this runs from dist/lib): a change to how
    // the editor is built invalidates old builds.
    join(root, 'engine', 'server', 'editor-assets.ts'),
  ].sort();
  const h = createHash('sha256');
  for (const f of files) {
    h.update(relative(root, f));
    h.update('\0');
    try {
      h.update(await readFile(f));
    } catch {
      h.update('missing');
    }
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

async function readStamp(dir: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(join(dir, STAMP), 'utf8')) as { fingerprint?: string }).fingerprint;
  } catch {
    return undefined;
  }
}

function cacheRoot(root: string): string {
  const inModules = join(root, 'node_modules', '.cache', 'fluxgraph-editor');
  return existsSync(join(root, 'node_modules')) ? inModules : join(tmpdir(), 'fluxgraph-editor-cache');
}

const building = new Map<string, Promise<string>>();

/**
 * Returns a folder holding the built editor for the current sources, building it if needed.
 * Concurrent callers (parallel test files, two servers) share one build; the build goes to a
 * temp folder that is renamed into place, so a half-built folder is never served.
 */
export async function ensureEditorBuild(options: { root?: string; log?: (line: string) => void; force?: boolean } = {}): Promise<string> {
  const root = options.root ?? REPO_ROOT;
  const fingerprint = await editorFingerprint(root);
  const prebuilt = join(root, 'dist', 'editor');
  if (!options.force && (await readStamp(prebuilt)) === fingerprint && existsSync(join(prebuilt, 'index.html'))) return prebuilt;
  const base = cacheRoot(root);
  const dir = join(base, fingerprint);
  if (!options.force && (await readStamp(dir)) === fingerprint) return dir;
  // An installed package (no editor sources; vite is a devDependency) serves the build it shipped with.
  if ((!existsSync(join(root, 'editor')) || !hasVite(root)) && existsSync(join(prebuilt, 'index.html'))) return prebuilt;
  let job = building.get(dir);
  if (!job) {
    job = buildInto(root, base, dir, fingerprint, options.log).finally(() => building.delete(dir));
    building.set(dir, job);
  }
  return job;
}

function hasVite(root: string): boolean {
  try {
    createRequire(join(root, 'package.json')).resolve('vite/package.json');
    return true;
  } catch {
    return false;
  }
}

/**
 * Builds the editor into dist/editor (with its fingerprint), the build a package ships and `serve`
 * uses; `npm run build` (run by `npm install`) calls it. `ifStale` keeps a build whose fingerprint
 * still matches the sources.
 */
export async function buildEditorDist(root = REPO_ROOT, options: { ifStale?: boolean } = {}): Promise<{ dir: string; built: boolean }> {
  const dir = join(root, 'dist', 'editor');
  const fingerprint = await editorFingerprint(root);
  if (options.ifStale && (await readStamp(dir)) === fingerprint && existsSync(join(dir, 'index.html'))) return { dir, built: false };
  await rm(dir, { recursive: true, force: true });
  await runViteBuild(root, dir);
  await writeFile(join(dir, STAMP), JSON.stringify({ fingerprint, builtAt: new Date().toISOString() }));
  return { dir, built: true };
}

function viteBin(root: string): string {
  try {
    const require = createRequire(join(root, 'package.json'));
    return join(dirname(require.resolve('vite/package.json')), 'bin', 'vite.js');
  } catch (e) {
    throw new Error(`the editor is not built and vite is not installed to build it (run npm install in ${root})`, { cause: e });
  }
}

/**
 * Runs `vite build` in a child process with NODE_ENV=production: React's production build even
 * when this process runs with NODE_ENV=test, and vite never loaded into the server process.
 */
function runViteBuild(root: string, outDir: string): Promise<void> {
  const bin = viteBin(root);
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      [bin, 'build', '--config', join(root, 'vite.config.ts'), '--outDir', outDir, '--emptyOutDir', '--mode', 'production', '--logLevel', 'error'],
      { cwd: root, env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`building the editor failed (vite exited with ${code}):\n${output.slice(-4000)}`))));
  });
}

async function buildInto(root: string, base: string, dir: string, fingerprint: string, log?: (line: string) => void): Promise<string> {
  const started = Date.now();
  log?.('Building the editor (first start after a change; later starts reuse the build)…');
  await mkdir(base, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await runViteBuild(root, tmp);
    await writeFile(join(tmp, STAMP), JSON.stringify({ fingerprint, builtAt: new Date().toISOString() }));
    try {
      await rename(tmp, dir);
    } catch (e) {
      // Another process finished the same build first: theirs is as good as ours.
      if ((await readStamp(dir)) !== fingerprint) throw e;
      await rm(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  log?.(`Built the editor in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await pruneOldBuilds(base, dir);
  return dir;
}

async function pruneOldBuilds(base: string, keep: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(base);
  } catch {
    return;
  }
  const dirs = await Promise.all(
    names
      .map((n) => join(base, n))
      .filter((p) => p !== keep && !p.includes('.tmp-'))
      .map(async (p) => ({ p, mtime: (await stat(p).catch(() => undefined))?.mtimeMs ?? 0 })),
  );
  // Keep a few (other checkouts of the repo may share node_modules); drop the rest.
  for (const { p } of dirs.sort((a, b) => b.mtime - a.mtime).slice(3)) await rm(p, { recursive: true, force: true });
}

/** Serves a built editor folder: hashed assets immutable, index.html for every app route. */
export function staticEditor(dir: string): EditorAssets {
  const root = resolve(dir);
  const send = async (req: IncomingMessage, res: ServerResponse, file: string, isIndex: boolean) => {
    const info = await stat(file);
    const headers: Record<string, string | number> = {
      ...BASE_HEADERS,
      'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': info.size,
      'cache-control': isIndex ? 'no-cache' : file.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
    };
    if (isIndex) headers['content-security-policy'] = EDITOR_CSP;
    res.writeHead(200, headers);
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  };
  return {
    mode: 'static',
    dir: root,
    async handle(req, res, pathname) {
      let decoded: string;
      try {
        decoded = decodeURIComponent(pathname);
      } catch {
        throw new HttpError(400, 'bad_path', 'malformed path');
      }
      if (decoded.includes('\0')) throw new HttpError(400, 'bad_path', 'malformed path');
      const file = resolve(root, `.${decoded}`);
      if (file !== root && !file.startsWith(root + sep)) throw new HttpError(403, 'forbidden_path', 'path outside the editor');
      if (file !== root && !file.endsWith(STAMP)) {
        const info = await stat(file).catch(() => undefined);
        if (info?.isFile()) {
          await send(req, res, file, file.endsWith('index.html'));
          return true;
        }
      }
      // App routes (no extension) get the app; a missing asset is a real 404.
      if (extname(decoded) === '' || decoded === '/') {
        await send(req, res, join(root, 'index.html'), true);
        return true;
      }
      return false;
    },
    async close() {},
  };
}

/** vite in middleware mode: the editor's sources with hot reload, on the API's origin. */
export async function devEditor(server: Server, options: { root?: string; port: number }): Promise<EditorAssets> {
  const root = options.root ?? REPO_ROOT;
  const vite = await import('vite');
  const dev = await vite.createServer({
    configFile: join(root, 'vite.config.ts'),
    root: join(root, 'editor'),
    appType: 'spa',
    server: { middlewareMode: true, hmr: { server }, allowedHosts: ['localhost', '127.0.0.1'] },
  });
  return {
    mode: 'dev',
    handle(req, res) {
      return new Promise<boolean>((done) => {
        res.setHeader('x-frame-options', 'DENY');
        res.on('finish', () => done(true));
        dev.middlewares(req, res, () => done(false));
      });
    },
    close: () => dev.close(),
  };
}
