/**
 * Pipeline documents the editor opens and saves through the server: files inside --base-dir
 * (listed, read, written; never outside it, symlinks included), the examples as read-only
 * templates, and the folder a document's relative paths resolve against: the opened file's own
 * folder, as `fluxgraph run` resolves them, or --base-dir for a document with no known folder.
 */
import { realpathSync } from 'node:fs';
import { mkdir, readdir, readFile, realpath, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { DocumentSource, FileEntry, TemplateEntry } from '../../editor/api/types';
import { HttpError } from './http-util';

/** Largest pipeline file read or written (a 2,000-node pipeline is about 600 KB). */
export const MAX_PIPELINE_BYTES = 4 * 1024 * 1024;
/** Folders the file list does not descend into. */
const SKIPPED_DIRS = new Set(['node_modules', '.git', '.fluxgraph', 'dist', 'out']);
const MAX_LISTED = 500;
const MAX_DEPTH = 4;

export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

export class DocumentFolders {
  readonly baseDir: string;
  private readonly realBase: string;

  constructor(
    baseDir: string,
    readonly examplesDir: string,
  ) {
    this.baseDir = resolve(baseDir);
    try {
      this.realBase = realpathSync(this.baseDir);
    } catch {
      this.realBase = this.baseDir;
    }
  }

  /**
   * An absolute path inside --base-dir for `path` (relative to it, "/" separated), or a 403
   * naming the limit. Existing files are checked by their real path, so a symlink cannot lead out.
   */
  async inside(path: unknown, what = 'path'): Promise<string> {
    if (typeof path !== 'string' || path.trim() === '' || path.includes('\0')) throw new HttpError(400, 'invalid_path', `${what}: send a path relative to the base folder`);
    const abs = resolve(this.baseDir, path);
    if (!isInside(this.baseDir, abs)) throw new HttpError(403, 'outside_base_dir', `${what} "${path}" is outside the base folder ${this.baseDir} (start the server with --base-dir to allow another folder)`);
    // The deepest existing ancestor, by its real path.
    let probe = abs;
    for (;;) {
      try {
        const real = await realpath(probe);
        if (!isInside(this.realBase, real)) throw new HttpError(403, 'outside_base_dir', `${what} "${path}" leads outside the base folder ${this.baseDir}`);
        break;
      } catch (e) {
        if (e instanceof HttpError) throw e;
        const up = dirname(probe);
        if (up === probe) break;
        probe = up;
      }
    }
    return abs;
  }

  /** The path relative to --base-dir, "/" separated, as the editor names files. */
  relativeName(abs: string): string {
    return relative(this.baseDir, abs).split(sep).join('/');
  }

  /** The folder relative paths in a document from `source` resolve against. */
  async folderOf(source: DocumentSource | undefined): Promise<string> {
    if (!source) return this.baseDir;
    if (source.kind === 'file') return dirname(await this.inside(source.path, 'document'));
    if (source.kind === 'template') {
      await this.templatePath(source.name);
      return this.examplesDir;
    }
    throw new HttpError(400, 'invalid_source', 'a document source is { kind: "file", path } or { kind: "template", name }');
  }

  /** The folder a document from `source` may read files in: the examples folder for a template, else --base-dir. */
  rootOf(source: DocumentSource | undefined): string {
    return source?.kind === 'template' ? this.examplesDir : this.baseDir;
  }

  /** Pipeline files (*.json with a nodes list) under --base-dir, newest first. */
  async listFiles(): Promise<FileEntry[]> {
    const found: FileEntry[] = [];
    const walk = async (dir: string, depth: number): Promise<void> => {
      if (found.length >= MAX_LISTED) return;
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (found.length >= MAX_LISTED) return;
        const abs = join(dir, e.name);
        if (e.isDirectory() && depth < MAX_DEPTH && !SKIPPED_DIRS.has(e.name) && !e.name.startsWith('.')) await walk(abs, depth + 1);
        else if (e.isFile() && e.name.toLowerCase().endsWith('.json')) {
          const info = await stat(abs).catch(() => undefined);
          if (!info || info.size > MAX_PIPELINE_BYTES) continue;
          const nodes = await pipelineNodeCount(abs);
          if (nodes !== undefined) found.push({ path: this.relativeName(abs), name: e.name.replace(/\.json$/i, ''), nodes, modifiedAt: info.mtimeMs });
        }
      }
    };
    await walk(this.baseDir, 0);
    return found.sort((a, b) => b.modifiedAt - a.modifiedAt);
  }

  async readFile(path: unknown): Promise<{ path: string; text: string }> {
    const abs = await this.inside(path, 'file');
    if (!abs.toLowerCase().endsWith('.json')) throw new HttpError(400, 'not_a_pipeline', 'pipeline files end in .json');
    const info = await stat(abs).catch(() => undefined);
    if (!info?.isFile()) throw new HttpError(404, 'file_not_found', `no file ${this.relativeName(abs)} in ${this.baseDir}`);
    if (info.size > MAX_PIPELINE_BYTES) throw new HttpError(413, 'payload_too_large', `${this.relativeName(abs)} is larger than ${MAX_PIPELINE_BYTES / 1048576} MB`);
    return { path: this.relativeName(abs), text: await readFile(abs, 'utf8') };
  }

  /** Writes a pipeline file atomically; an existing file is replaced only with `overwrite`. */
  async writeFile(path: unknown, text: unknown, overwrite: boolean): Promise<{ path: string }> {
    const abs = await this.inside(path, 'file');
    if (!abs.toLowerCase().endsWith('.json')) throw new HttpError(400, 'not_a_pipeline', 'save pipelines as .json files');
    if (typeof text !== 'string') throw new HttpError(400, 'invalid_body', 'send the pipeline text');
    if (Buffer.byteLength(text) > MAX_PIPELINE_BYTES) throw new HttpError(413, 'payload_too_large', `pipelines are limited to ${MAX_PIPELINE_BYTES / 1048576} MB`);
    const exists = await stat(abs).then(
      () => true,
      () => false,
    );
    if (exists && !overwrite) throw new HttpError(409, 'file_exists', `${this.relativeName(abs)} already exists`, { path: this.relativeName(abs) });
    await mkdir(dirname(abs), { recursive: true });
    const tmp = `${abs}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, text);
    await rename(tmp, abs);
    return { path: this.relativeName(abs) };
  }

  private async templatePath(name: unknown): Promise<string> {
    if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) throw new HttpError(400, 'invalid_template', 'a template name is letters, digits, "-" and "_"');
    const abs = join(this.examplesDir, `${name}.json`);
    if (!(await stat(abs).catch(() => undefined))?.isFile()) throw new HttpError(404, 'template_not_found', `no template "${name}"`);
    return abs;
  }

  async listTemplates(): Promise<TemplateEntry[]> {
    const names = (await readdir(this.examplesDir).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
    const out: TemplateEntry[] = [];
    for (const file of names) {
      try {
        const doc = JSON.parse(await readFile(join(this.examplesDir, file), 'utf8')) as { name?: unknown; description?: unknown; nodes?: unknown[] };
        if (!Array.isArray(doc.nodes)) continue;
        out.push({
          name: basename(file, '.json'),
          title: typeof doc.name === 'string' ? doc.name : basename(file, '.json'),
          ...(typeof doc.description === 'string' ? { description: doc.description } : {}),
          nodes: doc.nodes.length,
          types: [...new Set(doc.nodes.map((n) => (n as { type?: unknown }).type).filter((t): t is string => typeof t === 'string'))],
        });
      } catch {
        // not a pipeline
      }
    }
    return out;
  }

  async readTemplate(name: unknown): Promise<{ name: string; text: string }> {
    const abs = await this.templatePath(name);
    return { name: name as string, text: await readFile(abs, 'utf8') };
  }
}

async function pipelineNodeCount(path: string): Promise<number | undefined> {
  try {
    const doc = JSON.parse(await readFile(path, 'utf8')) as { nodes?: unknown };
    return Array.isArray(doc.nodes) && doc && typeof doc === 'object' ? doc.nodes.length : undefined;
  } catch {
    return undefined;
  }
}
