/**
 * Content-addressed image bytes on disk: <root>/<ab>/<abcdef…> named by sha-256. Writes go to a
 * temp file and are renamed into place, so a crash never leaves a half-written artifact under
 * its hash.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineError } from '../core/errors';
import type { ArtifactStore } from '../core/store';

const HASH = /^[0-9a-f]{64}$/;

export function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class FileArtifactStore implements ArtifactStore {
  /** Shard folders known to exist: each is created once per store, not once per image. */
  private readonly madeDirs = new Set<string>();

  constructor(readonly root: string) {}

  pathOf(hash: string): string {
    if (!HASH.test(hash)) throw new EngineError('invalid_input', `not an artifact hash: "${hash.slice(0, 80)}"`);
    return join(this.root, hash.slice(0, 2), hash);
  }

  async put(bytes: Buffer, known?: string): Promise<string> {
    const hash = known && HASH.test(known) ? known : sha256(bytes);
    const path = this.pathOf(hash);
    // Already there and intact: nothing to do. A damaged copy is replaced by these bytes.
    if (await this.has(hash) && (await this.read(hash).then(() => true, () => false))) return hash;
    const dir = join(this.root, hash.slice(0, 2));
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    const tmp = `${path}.${randomUUID()}.tmp`;
    try {
      await this.writeInto(dir, tmp, bytes);
      await rename(tmp, path);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    return hash;
  }

  /** Writes `tmp` in `dir`; a folder removed since it was made (a prune) is made again, once. */
  private async writeInto(dir: string, tmp: string, bytes: Buffer): Promise<void> {
    try {
      await writeFile(tmp, bytes);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.madeDirs.delete(dir);
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
      await writeFile(tmp, bytes);
    }
  }

  async has(hash: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(hash))).isFile();
    } catch {
      return false;
    }
  }

  /** Reads and re-hashes: a corrupted file is reported, never silently used. */
  async read(hash: string): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.pathOf(hash));
    } catch (e) {
      throw new EngineError('io', `artifact ${hash.slice(0, 12)} is missing from the store at ${this.root}`, {}, { cause: e });
    }
    if (sha256(bytes) !== hash) {
      throw new EngineError('io', `artifact ${hash.slice(0, 12)} in ${this.root} is corrupted (its bytes do not match its hash)`);
    }
    return bytes;
  }

  /** Every stored artifact with its size in bytes. */
  async list(): Promise<{ hash: string; bytes: number; mtimeMs: number }[]> {
    const out: { hash: string; bytes: number; mtimeMs: number }[] = [];
    let dirs: string[];
    try {
      dirs = await readdir(this.root);
    } catch {
      return out;
    }
    for (const d of dirs) {
      if (!/^[0-9a-f]{2}$/.test(d)) continue;
      for (const name of await readdir(join(this.root, d))) {
        if (!HASH.test(name)) continue;
        const st = await stat(join(this.root, d, name));
        out.push({ hash: name, bytes: st.size, mtimeMs: st.mtimeMs });
      }
    }
    return out;
  }

  async remove(hash: string): Promise<void> {
    await unlink(this.pathOf(hash)).catch(() => undefined);
  }
}
