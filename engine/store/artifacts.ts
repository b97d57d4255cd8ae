/**
 * Content-addressed image bytes on disk: <root>/<ab>/<abcdef…> named by sha-256. Writes go to a
 * temp file and are renamed into place, so a crash never leaves a half-written artifact under
 * its hash.
 *
 * The write path uses node:fs's callback functions: `fs/promises` costs about twice their CPU per
 * call (a FileHandle and several promises per write), and a run stores every image it makes.
 */
import { createHash, randomUUID } from 'node:crypto';
import { rename as renameCb, writeFile as writeFileCb } from 'node:fs';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineError } from '../core/errors';
import type { ArtifactStore } from '../core/store';

const HASH = /^[0-9a-f]{64}$/;

export function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const writeFile = (path: string, bytes: Buffer) => new Promise<void>((resolve, reject) => writeFileCb(path, bytes, (e) => (e ? reject(e) : resolve())));
const rename = (from: string, to: string) => new Promise<void>((resolve, reject) => renameCb(from, to, (e) => (e ? reject(e) : resolve())));

/** Images just stored, kept for their first read (a save right after the generate): a few, never many. */
const HANDOFF_MAX = 64;
const HANDOFF_MAX_BYTES = 16 * 1024 * 1024;

export class FileArtifactStore implements ArtifactStore {
  /** Shard folders known to exist: each is created once per store, not once per image. */
  private readonly madeDirs = new Set<string>();
  /** The bytes of the last images stored, until their first read (oldest first). */
  private readonly handoff = new Map<string, Buffer>();
  private handoffBytes = 0;

  constructor(readonly root: string) {}

  pathOf(hash: string): string {
    if (!HASH.test(hash)) throw new EngineError('invalid_input', `not an artifact hash: "${hash.slice(0, 80)}"`);
    return join(this.root, hash.slice(0, 2), hash);
  }

  /**
   * Writes the bytes under their hash. Whatever is there already (the same bytes, or a damaged
   * copy) is replaced atomically by the rename: cheaper than looking first, as new images are the
   * common case.
   */
  async put(bytes: Buffer, known?: string): Promise<string> {
    const hash = known && HASH.test(known) ? known : sha256(bytes);
    const path = this.pathOf(hash);
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
    this.keepForFirstRead(hash, bytes);
    return hash;
  }

  private keepForFirstRead(hash: string, bytes: Buffer): void {
    if (bytes.length > HANDOFF_MAX_BYTES / 4 || this.handoff.has(hash)) return;
    this.handoff.set(hash, bytes);
    this.handoffBytes += bytes.length;
    while (this.handoff.size > HANDOFF_MAX || this.handoffBytes > HANDOFF_MAX_BYTES) {
      const [oldest, b] = this.handoff.entries().next().value as [string, Buffer];
      this.handoff.delete(oldest);
      this.handoffBytes -= b.length;
    }
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

  /**
   * Reads and re-hashes: a corrupted file is reported, never silently used. The first read of an
   * image this store has just written (hashed as it was downloaded) is served from memory, unless
   * the stored copy itself is asked for.
   */
  async read(hash: string, opts?: { stored?: boolean }): Promise<Buffer> {
    const fresh = opts?.stored ? undefined : this.handoff.get(hash);
    if (fresh) {
      this.handoff.delete(hash);
      this.handoffBytes -= fresh.length;
      return fresh;
    }
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
    const kept = this.handoff.get(hash);
    if (kept) {
      this.handoff.delete(hash);
      this.handoffBytes -= kept.length;
    }
    await unlink(this.pathOf(hash)).catch(() => undefined);
  }
}
