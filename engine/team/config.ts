/**
 * Team mode's settings from the environment (and `.env`): FLUXGRAPH_REDIS_URL (the queue),
 * FLUXGRAPH_DATABASE_URL (the Postgres ledger), FLUXGRAPH_STORE (a shared folder, or
 * `s3://bucket/prefix` with the standard AWS settings). Each is checked at start, before anything
 * is enqueued or spent: what is missing or wrong is one clear line (EngineError `usage`).
 */
import { join, resolve } from 'node:path';
import { EngineError } from '../core/errors';
import type { ArtifactStore } from '../core/store';
import { folderProblem } from '../host/folders';
import { FileArtifactStore } from '../store/artifacts';
import { S3ArtifactStore } from '../store/s3-artifacts';
import { s3Store } from '../store/s3';

export interface TeamSettings {
  redisUrl: string;
  databaseUrl: string;
  store: string;
}

/** True when the environment asks for team mode (a queue is configured). */
export function teamConfigured(env: Record<string, string | undefined>): boolean {
  return Boolean(env.FLUXGRAPH_REDIS_URL?.trim());
}

/** The three settings, or a `usage` error naming the first one missing and what `who` needs it for. */
export function teamSettings(env: Record<string, string | undefined>, who: string): TeamSettings {
  const need = (name: string, what: string) => {
    const v = env[name]?.trim();
    if (!v) throw new EngineError('usage', `${name} is not set: ${who} needs ${what}`);
    return v;
  };
  return {
    redisUrl: need('FLUXGRAPH_REDIS_URL', 'the team queue (e.g. redis://127.0.0.1:6379)'),
    databaseUrl: need('FLUXGRAPH_DATABASE_URL', 'the Postgres ledger (e.g. postgres://user@host/fluxgraph)'),
    store: need('FLUXGRAPH_STORE', 'a store every machine shares (a shared folder, or s3://bucket/prefix)'),
  };
}

export interface SharedStore extends ArtifactStore {
  /** The folder or s3:// URL, for messages. */
  readonly shown: string;
  close(): void;
}

/**
 * Opens the shared store and proves it takes writes (a folder every machine mounts, or a bucket),
 * so a worker never pays for an image it then cannot keep. `localCopies`: a folder for read-through
 * copies of bucket objects (the editor server serves images by path).
 */
export async function openSharedStore(spec: string, env: Record<string, string | undefined>, opts: { localCopies?: string } = {}): Promise<SharedStore> {
  if (/^s3:\/\//i.test(spec)) {
    const bucket = s3Store(spec, env, 'FLUXGRAPH_STORE');
    const store = new S3ArtifactStore(bucket, opts.localCopies ? new FileArtifactStore(opts.localCopies) : undefined);
    try {
      // Content-addressed, so writing the marker twice is harmless; a refusal surfaces here.
      await bucket.put('.fluxgraph-store', Buffer.from('fluxgraph shared store\n'), 'text/plain');
    } catch (e) {
      bucket.close();
      throw new EngineError('usage', `FLUXGRAPH_STORE ${bucket.location} refuses writes: ${(e as Error).message.replace(/^s3:\/\/\S+: /, '')}`);
    }
    return Object.assign(store, { shown: bucket.location });
  }
  const root = resolve(spec);
  const problem = await folderProblem(root);
  if (problem) throw new EngineError('usage', `FLUXGRAPH_STORE ${problem}`);
  return Object.assign(new FileArtifactStore(root), { shown: root, close: () => undefined });
}

/** Where a host keeps read-through copies of a bucket store. */
export function localCopiesDir(cacheDir: string): string {
  return join(cacheDir, 'store-copies');
}
