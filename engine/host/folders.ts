/**
 * Folders fluxgraph writes into (`--out`, the cache folder): checked before anything is spent, so
 * a run never pays for images it then cannot save. Nothing is created here; a missing folder is
 * fine when its nearest existing parent is a folder this process can write in.
 */
import { constants } from 'node:fs';
import { access, lstat, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Kernel file systems: writing there fails or hangs, and nothing belongs there. */
const KERNEL = /^\/(proc|sys)(\/|$)/;

/** Why fluxgraph cannot write in `path`, as the end of a sentence starting with the folder's role; undefined when it can. */
export async function folderProblem(path: string): Promise<string | undefined> {
  if (KERNEL.test(path)) return `${path} is under /${path.split('/')[1]}, a kernel file system; choose a normal folder`;
  let p = path;
  for (;;) {
    let st;
    try {
      st = await lstat(p);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOENT') {
        const parent = dirname(p);
        if (parent === p) return `${path}: no part of it exists`;
        p = parent;
        continue;
      }
      if (code === 'ENOTDIR') {
        p = dirname(p);
        continue;
      }
      if (code === 'EACCES') return `${path}: permission denied for ${p}`;
      return `${path}: ${code ?? String(e)}`;
    }
    if (st.isSymbolicLink()) {
      try {
        st = await stat(p);
      } catch {
        const target = await readlink(p).catch(() => '?');
        return `${p === path ? path : `${path}: ${p}`} is a symbolic link to ${target}, which does not exist`;
      }
    }
    if (!st.isDirectory()) return p === path ? `${path} is a file, not a folder` : `${path}: ${p} is a file, not a folder`;
    break;
  }
  try {
    await access(p, constants.W_OK | constants.X_OK | constants.R_OK);
  } catch {
    return `${path}: cannot write in ${p} (permission denied)`;
  }
  // Permissions do not tell about read-only mounts (or root): try it.
  const probe = join(p, `.fluxgraph-write-check-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    await writeFile(probe, '', { flag: 'wx' });
  } catch (e) {
    return `${path}: cannot write in ${p} (${(e as { code?: string }).code ?? String(e)})`;
  } finally {
    await rm(probe, { force: true }).catch(() => undefined);
  }
  return undefined;
}
