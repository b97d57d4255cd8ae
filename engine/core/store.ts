/** The artifact store as the engine sees it: content-addressed image bytes on disk. */
import type { ImageAsset } from './ports';

export interface ArtifactStore {
  /**
   * Stores bytes and returns their sha-256 hex; storing the same bytes twice is a no-op.
   * `sha256`: the hash already computed from these very bytes (as they were downloaded).
   */
  put(bytes: Buffer, sha256?: string): Promise<string>;
  /**
   * The bytes, checked against their hash. `stored`: read the stored copy itself (to check a
   * cached result is still intact), never a copy the store may keep in memory.
   */
  read(hash: string, opts?: { stored?: boolean }): Promise<Buffer>;
  has(hash: string): Promise<boolean>;
  /** Absolute path of the stored file. */
  pathOf(hash: string): string;
}

export type { ImageAsset };
