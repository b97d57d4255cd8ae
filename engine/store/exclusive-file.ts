/**
 * Files that are never overwritten and never seen half-written: the bytes go to a temp file,
 * which is then hard-linked to its name. A link fails when the name exists, so two writers (two
 * save nodes, two runs into one folder, the CLI and the editor) can never take the same name.
 */
import { randomUUID } from 'node:crypto';
import { link, open, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** File systems without hard links answer these; there a claim file stands in for the link. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

/** Writes `bytes` as `path` if nothing has that name yet; false when the name is taken. */
export async function createExclusive(path: string, bytes: Buffer | string): Promise<boolean> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomUUID()}.tmp`);
  await writeFile(tmp, bytes, { flag: 'wx' });
  let moved = false;
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_LINKS.has(code)) throw e;
    // Claim the name with an empty file, then move the complete file over the claim.
    try {
      await (await open(path, 'wx')).close();
    } catch (claim) {
      if ((claim as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw claim;
    }
    await rename(tmp, path);
    moved = true;
    return true;
  } finally {
    if (!moved) await unlink(tmp).catch(() => undefined);
  }
}

/** The errno codes of a write that failed because the disk or quota is full or read-only. */
export function isFullDisk(e: unknown): boolean {
  return ['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS'].includes((e as NodeJS.ErrnoException)?.code ?? '');
}
