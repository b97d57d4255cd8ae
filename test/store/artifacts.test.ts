/**
 * The content-addressed store: atomic writes under the hash, a damaged copy replaced by a new
 * put, and the first read of a just-stored image served from memory (a save right after its
 * generate) while a check of the stored copy always reads the file.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { tempDir } from '../helpers/tmp';

const bytesOf = (i: number) => Buffer.from(`image number ${i} `.repeat(20));
const hashOf = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('file artifact store', () => {
  it('writes the bytes under their hash and leaves no temp file behind', async () => {
    const store = new FileArtifactStore(tempDir());
    const b = bytesOf(1);
    const hash = await store.put(b);
    expect(hash).toBe(hashOf(b));
    expect(readFileSync(store.pathOf(hash)).equals(b)).toBe(true);
    expect(readdirSync(join(store.root, hash.slice(0, 2)))).toEqual([hash]);
  });

  it('replaces a damaged copy when the same image is stored again', async () => {
    const store = new FileArtifactStore(tempDir());
    const b = bytesOf(2);
    const hash = await store.put(b, hashOf(b));
    writeFileSync(store.pathOf(hash), 'garbage');
    await store.put(b, hashOf(b));
    expect(readFileSync(store.pathOf(hash)).equals(b)).toBe(true);
  });

  it('serves the first read of a just-stored image from memory, and checks the file when the stored copy is asked for', async () => {
    const store = new FileArtifactStore(tempDir());
    const b = bytesOf(3);
    const hash = await store.put(b, hashOf(b));
    writeFileSync(store.pathOf(hash), 'garbage');
    await expect(store.read(hash, { stored: true })).rejects.toThrow(/corrupted/);
    expect((await store.read(hash)).equals(b)).toBe(true);
    // Only the first read: the next one is the file's, and the damage is reported.
    await expect(store.read(hash)).rejects.toThrow(/corrupted/);
  });

  it('keeps only the last few images in memory', async () => {
    const store = new FileArtifactStore(tempDir());
    const hashes: string[] = [];
    for (let i = 0; i < 100; i++) hashes.push(await store.put(bytesOf(100 + i)));
    for (const h of hashes) writeFileSync(store.pathOf(h), 'garbage');
    await expect(store.read(hashes[0])).rejects.toThrow(/corrupted/);
    expect((await store.read(hashes[99])).equals(bytesOf(199))).toBe(true);
  });
});
