/**
 * Local image files as the server's runs and estimates read them. A run reads the whole file (and
 * remembers which stored image it was, by the file's identity and modification time); an
 * estimate, which the editor asks for on every edit, reads only the header and prices a stand-in
 * of the same size, or the very image a run here read, so cached results are still found.
 */
import { stat } from 'node:fs/promises';
import { readImageFile, readImageFileHeader } from '../core/image-file';
import type { LocalImageFile } from '../core/run-options';
import type { ArtifactStore } from '../core/store';
import { standInPng } from '../host/estimate';
import { sha256 } from '../store/artifacts';

interface Known {
  size: number;
  mtimeMs: number;
  ino: number;
  hash: string;
}

const MAX_KNOWN = 2_000;

export class LocalImageFiles {
  private readonly known = new Map<string, Known>();

  constructor(private readonly store: ArtifactStore) {}

  /** For a run: the whole file, under the cap. */
  async read(path: string, maxBytes: number): Promise<LocalImageFile> {
    const before = await stat(path).catch(() => undefined);
    const bytes = await readImageFile(path, maxBytes);
    if (before) {
      if (this.known.size >= MAX_KNOWN) this.known.delete(this.known.keys().next().value!);
      this.known.set(path, { size: before.size, mtimeMs: before.mtimeMs, ino: before.ino, hash: sha256(bytes) });
    }
    return { bytes };
  }

  /** For an estimate: the header only; the stored image when a run read this very file, else a stand-in of its size. */
  async standIn(path: string, maxBytes: number): Promise<LocalImageFile> {
    const head = await readImageFileHeader(path, maxBytes);
    const known = this.known.get(path);
    if (known) {
      const now = await stat(path).catch(() => undefined);
      if (now && now.size === known.size && now.mtimeMs === known.mtimeMs && now.ino === known.ino && (await this.store.has(known.hash))) {
        return { bytes: await this.store.read(known.hash), standIn: true };
      }
    }
    return { bytes: standInPng(head.width, head.height), standIn: true };
  }
}
