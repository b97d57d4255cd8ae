/** Paths as the server resolves them, for showing in the inspector (POSIX and Windows). */

export const isUrl = (s: string) => /^https?:\/\//i.test(s);

function isAbsolutePath(p: string): boolean {
  return p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\');
}

/** `path` resolved against `folder` ("a/b" + "../c.png" → "a/c.png"). */
export function resolvePath(folder: string, path: string): string {
  if (isAbsolutePath(path)) return path;
  const sep = folder.includes('\\') && !folder.includes('/') ? '\\' : '/';
  const parts = folder.split(/[\\/]/);
  for (const part of path.split(/[\\/]/)) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length > 1) parts.pop();
    } else parts.push(part);
  }
  return parts.join(sep) || sep;
}
