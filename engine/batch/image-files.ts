/** The image files of a folder or glob, in natural name order (img2 before img10). */
import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { escapePath, glob, isDynamicPattern } from 'tinyglobby';

const IMAGE_GLOB = '*.{jpg,jpeg,png,webp,JPG,JPEG,PNG,WEBP}';
const natural = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** Absolute paths; `problem` says why there are none. */
export async function listImages(pattern: string, baseDir: string): Promise<{ files: string[]; problem?: string }> {
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
