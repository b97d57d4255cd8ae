/**
 * The server reads files only inside its base folder (serve --base-dir). Every local path a
 * document names (reference images, prompt-list files, image folders and globs) is checked here
 * before anything touches the file system for it: a path outside is refused by its text alone,
 * so the answer never says whether something exists there, and a symbolic link inside that leads
 * out is refused too.
 */
import { lstat, realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { isDynamicPattern } from 'tinyglobby';
import { nodeLabel } from '../core/errors';
import type { Pipeline } from '../core/pipeline-schema';
import type { NodeRegistry } from '../core/registry';
import type { ValidationIssue } from '../core/validate';

const isUrl = (s: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);

/** Inside `folder` by path alone (no file system access). */
export function lexicallyInside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** The local paths a node reads: its reference images and its row source's files, as written. */
function localPaths(pipeline: Pipeline, registry: NodeRegistry): { nodeId: string; type: string; param: string; path: string }[] {
  const out: { nodeId: string; type: string; param: string; path: string }[] = [];
  for (const node of pipeline.nodes) {
    const def = registry.get(node.type);
    if (!def) continue;
    const parsed = def.params.safeParse(node.params);
    if (!parsed.success) continue;
    for (const { param, source } of def.imageSources?.(parsed.data) ?? []) if (!isUrl(source)) out.push({ nodeId: node.id, type: node.type, param, path: source });
    for (const { param, path } of def.rowSource?.paths?.(parsed.data as never) ?? []) out.push({ nodeId: node.id, type: node.type, param, path });
  }
  return out;
}

/** The part of a glob before its first pattern segment ("photos/*.jpg" → "photos"). */
function staticPart(path: string): string {
  const parts = path.split(/[\\/]/);
  const fixed: string[] = [];
  for (const part of parts) {
    if (isDynamicPattern(part)) break;
    fixed.push(part);
  }
  return fixed.join(sep) || '.';
}

/** Does the existing file at `path` (or a link on the way) lead outside `realBase`? */
async function leadsOut(path: string, realBase: string): Promise<boolean> {
  const real = await realpath(path).catch(() => undefined);
  if (real) return !lexicallyInside(realBase, real);
  // Missing: a dangling link is refused like one leading out (its target is not ours to probe).
  const st = await lstat(path).catch(() => undefined);
  return st?.isSymbolicLink() === true;
}

/**
 * Errors for every local path of `pipeline` that lies outside `confineTo`. `folder`: where the
 * document's relative paths resolve (its file's folder, itself inside `confineTo`).
 */
export async function confinementIssues(pipeline: Pipeline, o: { registry: NodeRegistry; folder: string; confineTo: string }): Promise<ValidationIssue[]> {
  const issues: ValidationIssue[] = [];
  const realBase = await realpath(o.confineTo).catch(() => o.confineTo);
  for (const { nodeId, type, param, path } of localPaths(pipeline, o.registry)) {
    const glob = isDynamicPattern(path);
    const abs = isAbsolute(path) ? path : resolve(o.folder, path);
    const fixed = glob ? (isAbsolute(path) ? staticPart(path) : resolve(o.folder, staticPart(path))) : abs;
    // A pattern may climb out through braces or extglobs ("{..,x}/*"): no ".." in a glob at all.
    const outside = (glob && /(^|[\\/{,(|])\.\.([\\/},)|]|$)/.test(path)) || !lexicallyInside(o.confineTo, abs) || !lexicallyInside(o.confineTo, fixed) || (await leadsOut(fixed, realBase));
    if (!outside) continue;
    issues.push({
      code: 'invalid_input',
      severity: 'error',
      message: `${nodeLabel(nodeId, type)}: param "${param}": "${path}" is outside the base folder ${o.confineTo} (serve --base-dir); the server reads only files inside it`,
      nodeId,
      param,
    });
  }
  return issues;
}
