/**
 * "Download all": one ZIP of a run's images and their sidecars (and a batch's results.csv),
 * streamed as it is read (yazl, stored without recompression: the images are compressed
 * already), so a run of thousands of images never sits in memory. Only files the run wrote into
 * its output folder are served; a run that saved nothing gets its images from the store.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, relative } from 'node:path';
import { ZipFile } from 'yazl';
import type { ArtifactStore } from '../core/store';
import type { RunImage } from '../../editor/api/types';
import { readImageFileHeader } from '../core/image-file';
import { lexicallyInside } from './confine';

export interface RunFiles {
  runId: string;
  pipeline?: string;
  /** The folder the run wrote into: entries are named relative to it, and nothing outside it is served. */
  outDir: string;
  /** Image files the run wrote (their sidecars sit beside them). */
  files: string[];
  /** The run's images, for a run that saved none. */
  images: RunImage[];
  /** A batch's results.csv. */
  results?: string;
}

const sidecarOf = (path: string) => path.slice(0, -extname(path).length) + '.json';
const EXT: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' };


/** An existing regular file inside `root` (links followed), by its real path; undefined otherwise. */
async function servable(path: string, root: string): Promise<string | undefined> {
  const real = await realpath(path).catch(() => undefined);
  if (!real || !lexicallyInside(root, real)) return undefined;
  return (await stat(real).catch(() => undefined))?.isFile() ? real : undefined;
}

/** The ZIP's entries: [path on disk, name in the archive]. */
async function entriesOf(run: RunFiles, store: ArtifactStore): Promise<[string, string][]> {
  const root = await realpath(run.outDir).catch(() => run.outDir);
  const entries: [string, string][] = [];
  const named = new Set<string>();
  const add = async (path: string) => {
    const real = await servable(path, root);
    const name = relative(run.outDir, path).split('\\').join('/');
    if (real && !named.has(name)) {
      named.add(name);
      entries.push([real, name]);
    }
  };
  for (const file of run.files) {
    await add(file);
    await add(sidecarOf(file));
  }
  if (run.results) await add(run.results);
  if (entries.length === 0) {
    for (const img of run.images) {
      const path = store.pathOf(img.hash);
      const info = await readImageFileHeader(path).catch(() => undefined);
      if (!info) continue;
      const mime = info.mime;
      entries.push([path, `${img.nodeId}${img.row !== undefined ? `-row${img.row}` : ''}-${img.item}.${EXT[mime]}`]);
    }
  }
  return entries;
}

export async function sendRunZip(res: ServerResponse, run: RunFiles, store: ArtifactStore): Promise<void> {
  const entries = await entriesOf(run, store);
  const zip = new ZipFile();
  for (const [path, name] of entries) zip.addReadStreamLazy(name, { compress: false }, (cb) => cb(null, createReadStream(path)));
  const base = `${(run.pipeline ?? 'run').replace(/[^A-Za-z0-9_.-]+/g, '-')}-${run.runId}`;
  res.writeHead(200, {
    'content-type': 'application/zip',
    'content-disposition': `attachment; filename="${base}.zip"`,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  zip.outputStream.pipe(res);
  // A client that goes away stops the reading.
  res.on('close', () => zip.outputStream.unpipe(res));
  zip.end();
  await new Promise<void>((done) => {
    zip.outputStream.on('end', done);
    zip.outputStream.on('error', () => {
      res.destroy();
      done();
    });
    res.on('close', done);
  });
}
