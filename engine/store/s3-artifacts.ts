/**
 * Team mode's shared store on an S3-compatible bucket (`FLUXGRAPH_STORE=s3://bucket/prefix`):
 * content-addressed like the folder store (`<prefix>/<ab>/<sha-256>`), so it needs no locking;
 * each upload carries its SHA-256 so the store checks the bytes, and every read is re-hashed.
 * Image bytes live in the bucket, never only on one worker's disk. A host that serves files by
 * path (the editor server) passes a local folder: it keeps read-through copies there.
 */
import { EngineError } from '../core/errors';
import type { ArtifactStore } from '../core/store';
import { FileArtifactStore, sha256 } from './artifacts';
import type { S3ObjectStore } from './s3';

const HASH = /^[0-9a-f]{64}$/;

export class S3ArtifactStore implements ArtifactStore {
  constructor(
    private readonly s3: S3ObjectStore,
    /** Read-through copies for `pathOf` (absent: no local copies, `pathOf` is refused). */
    private readonly local?: FileArtifactStore,
  ) {}

  get location(): string {
    return this.s3.location;
  }

  private key(hash: string): string {
    if (!HASH.test(hash)) throw new EngineError('invalid_input', `not an artifact hash: "${hash.slice(0, 80)}"`);
    return `${hash.slice(0, 2)}/${hash}`;
  }

  async put(bytes: Buffer, known?: string): Promise<string> {
    const hash = known && HASH.test(known) ? known : sha256(bytes);
    // Same bytes, same name: an object already there is these bytes (reads re-hash anyway).
    if (!(await this.s3.exists(this.key(hash)))) await this.s3.put(this.key(hash), bytes, 'application/octet-stream', hash);
    return hash;
  }

  async read(hash: string): Promise<Buffer> {
    if (this.local && (await this.local.has(hash))) {
      const copy = await this.local.read(hash).catch(() => undefined);
      if (copy) return copy;
    }
    const bytes = await this.s3.get(this.key(hash));
    if (!bytes) throw new EngineError('io', `artifact ${hash.slice(0, 12)} is missing from the store at ${this.s3.location}`);
    if (sha256(bytes) !== hash) throw new EngineError('io', `artifact ${hash.slice(0, 12)} in ${this.s3.location} is corrupted (its bytes do not match its hash)`);
    await this.local?.put(bytes, hash);
    return bytes;
  }

  async has(hash: string): Promise<boolean> {
    if (this.local && (await this.local.has(hash))) return true;
    if (!(await this.s3.exists(this.key(hash)))) return false;
    // A host that reads by path gets its copy now.
    if (this.local) await this.read(hash);
    return true;
  }

  pathOf(hash: string): string {
    if (!this.local) throw new EngineError('usage', `the store ${this.s3.location} is a bucket: images are read from it, not by path`);
    return this.local.pathOf(hash);
  }

  close(): void {
    this.s3.close();
  }
}
