/** The image files of a folder or glob, in natural name order (img2 before img10). */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { escapePath, glob, isDynamicPattern } from 'tinyglobby';

const IMAGE_GLOB = '*.{jpg,jpeg,png,webp,JPG,JPEG,PNG,WEBP}';
const natural = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** Inside `folder` by path alone. */
function inside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Absolute paths; `problem` says why there are none. `confineTo`: every file, links followed, must lie inside it. */
export async function listImages(pattern: string, baseDir: string, confineTo?: string): Promise<{ files: string[]; problem?: string }> {
  const files = await listAll(pattern, baseDir);
  if (!confineTo || files.problem) return files;
  const base = await realpath(confineTo).catch(() => confineTo);
  for (const file of files.files) {
    const real = await realpath(file).catch(() => undefined);
    if (!real || !inside(base, real)) return { files: [], problem: `${relative(baseDir, file)} leads outside the base folder ${confineTo} (serve --base-dir); the server reads only files inside it` };
  }
  return files;
}

async function listAll(pattern: string, baseDir: string): Promise<{ files: string[]; problem?: string }> {
  const abs = isAbsolute(pattern) ? pattern : resolve(baseDir, pattern);
  let globPattern = pattern;
  if (!isDynamicPattern(pattern)) {
    const st = await stat(abs).catch(() => undefined);
    if (!st) return { files: [], problem: `no such folder or file: ${abs}` };
    if (st.isFile()) return { files: [abs] };
    globPattern = `${escapePath(pattern.replace(/[\\/]+$/, ''))}/${IMAGE_GLOB}`;
  }
  const files = await glob(globPattern, { cwd: baseDir, absolute: true, onlyFiles: true, expandDirectories: false });
  if (!files.length) return { files, problem: `${pattern} matches no image files (.jpg, .jpeg, .png, .webp)` };
  return { files: files.sort((a, b) => natural.compare(a, b)) };
}
