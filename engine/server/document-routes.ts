/**
 * The editor's document routes: pipeline files inside --base-dir, the examples as templates, and
 * the file `fluxgraph serve pipeline.json` opened.
 *
 *   GET  /api/opened                    { path? }: the file the server was started with
 *   GET  /api/files                     pipeline files under --base-dir, newest first
 *   GET  /api/files/read?path=P         { path, text }
 *   POST /api/files/write               { path, text, overwrite? } → { path } | 409 file_exists
 *   GET  /api/templates                 the examples, offered as templates
 *   GET  /api/templates/:name           { name, text }
 *   POST /api/assets?name=N&doc=P       an image's bytes → written into assets/ beside document P
 *                                       (inside --base-dir; never over a file) → AssetResponse
 */
import type { FilesResponse, OpenedResponse, TemplatesResponse } from '../../editor/api/types';
import type { DocumentFolders } from './documents';
import { saveAsset } from './assets';
import { HttpError, readBinaryBody, readJsonBody, type Redact } from './http-util';
import { MAX_REFERENCE_BYTES } from '../../nodes/reference-image';
import { sendJson } from './http-util';
import type { Route } from './app';

export interface DocumentRoutesContext {
  documents: DocumentFolders;
  /** Relative to --base-dir. */
  opened?: string;
  redact: Redact;
  maxBodyBytes: number;
}

export function documentRoutes(ctx: DocumentRoutesContext): Route[] {
  const { documents } = ctx;
  const json = (res: Parameters<Route['handler']>[1], status: number, body: unknown) => sendJson(res, status, body, ctx.redact);
  return [
    { method: 'GET', pattern: /^\/api\/opened$/, handler: (_q, res) => json(res, 200, (ctx.opened ? { path: ctx.opened } : {}) satisfies OpenedResponse) },
    {
      method: 'GET',
      pattern: /^\/api\/files$/,
      handler: async (_q, res) => json(res, 200, { baseDir: documents.baseDir, files: await documents.listFiles() } satisfies FilesResponse),
    },
    { method: 'GET', pattern: /^\/api\/files\/read$/, handler: async (_q, res, _p, url) => json(res, 200, await documents.readFile(url.searchParams.get('path'))) },
    {
      method: 'POST',
      pattern: /^\/api\/files\/write$/,
      handler: async (req, res) => {
        const body = (await readJsonBody(req, ctx.maxBodyBytes)) as Record<string, unknown> | undefined;
        if (!body || typeof body !== 'object') throw new HttpError(400, 'invalid_body', 'send { path, text }');
        json(res, 200, await documents.writeFile(body.path, body.text, body.overwrite === true));
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/assets$/,
      handler: async (req, res, _p, url) => {
        // A little over the image limit, so an oversized image gets saveAsset's clear message.
        const bytes = await readBinaryBody(req, MAX_REFERENCE_BYTES + 1024 * 1024);
        const doc = url.searchParams.get('doc');
        const template = url.searchParams.get('template');
        const source = doc ? { kind: 'file' as const, path: doc } : template ? { kind: 'template' as const, name: template } : undefined;
        json(res, 201, await saveAsset(documents, bytes, url.searchParams.get('name') ?? 'image', source));
      },
    },
    { method: 'GET', pattern: /^\/api\/templates$/, handler: async (_q, res) => json(res, 200, { templates: await documents.listTemplates() } satisfies TemplatesResponse) },
    { method: 'GET', pattern: /^\/api\/templates\/([A-Za-z0-9_-]+)$/, handler: async (_q, res, [name]) => json(res, 200, await documents.readTemplate(name)) },
  ];
}
