/**
 * The HTTP API behind the editor, and the editor's files. Every request passes the guard
 * (security.ts) first; bodies are bounded JSON; every JSON and SSE payload is redacted.
 *
 *   GET  /api/info                  server name, version, output folder
 *   GET  /api/nodes                 node catalog (descriptors derived from the declarations)
 *   GET  /api/providers             providers and whether each has a key (never the key)
 *   POST /api/validate              { pipeline } → { ok, issues }
 *   POST /api/estimate              { pipeline, provider?, variables?, seedsFrom?, only? } → the cost estimate
 *                                   (cached items at $0) | 422 { issues }
 *   POST /api/provenance            an image's bytes (octet-stream, ≤ 40 MB) → the pipeline record it carries | 422
 *   POST /api/runs                  { pipeline, provider?, variables?, seedsFrom?, only? } → 201 { runId, issues } | 422 { issues } | 409
 *   GET  /api/runs                  run history: the ledger's runs (editor, CLI, library), newest first
 *   GET  /api/runs/:id              one run
 *   GET  /api/runs/:id/events       server-sent events of the run (replayed from Last-Event-ID)
 *   GET  /api/runs/:id/zip          the run's images and sidecars as one ZIP, streamed
 *   POST /api/runs/:id/resume       continue a resumable run (CLI runs too) → 201 { runId, issues } | 409 | 422
 *   POST /api/runs/:id/cancel       stop a run
 *   GET  /api/images/:hash          image bytes from the artifact store
 *   GET  /api/images/:hash/thumb    WebP thumbnail (?size=32..512)
 *   …and the document routes (files in --base-dir, templates): see document-routes.ts.
 *
 * validate, estimate and runs take an optional `source` (DocumentSource): the document's
 * relative paths then resolve against that file's folder, as the CLI resolves them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NodeDescriptor } from '../core/describe';
import { extractProvenance } from '../store/provenance';
import type { DocumentSource, EstimateResponse, ProvenanceResponse, ProvidersResponse, ServerInfo, StartRunRequest } from '../../editor/api/types';
import { documentRoutes } from './document-routes';
import type { DocumentFolders } from './documents';
import type { EditorAssets } from './editor-assets';
import { HttpError, readBinaryBody, readJsonBody, sendError, sendJson, type Redact } from './http-util';
import type { ImageService } from './images';
import type { RunRegistry } from './runs';
import type { QueuedRuns } from './queued-runs';
import type { RequestGuard } from './security';
import { sendRunZip } from './run-zip';
import { lastEventId, openEventStream } from './sse';
import { admit, sessionRoutes, SIGNIN_PAGE, whoIs, type AccessControl } from './access-control';
import type { Identity } from '../store/access';

const SIGNIN_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'";

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Saved images can be large (a 4 MP PNG); the provenance route takes up to this much. */
export const MAX_IMAGE_BODY_BYTES = 40 * 1024 * 1024;
const MAX_URL_LENGTH = 4096;

export interface AppContext {
  guard: RequestGuard;
  /** Access tokens (a server others can reach); absent: loopback without tokens. */
  access?: AccessControl;
  redact: Redact;
  info: ServerInfo;
  descriptors: NodeDescriptor[];
  providers(): ProvidersResponse;
  /** This server's runs, or team mode's runs in the shared queue. */
  runs: RunRegistry | QueuedRuns;
  images: ImageService;
  assets?: EditorAssets;
  /** Pipeline files in --base-dir, templates, and the folder each document resolves against. */
  documents?: DocumentFolders;
  /** The file `fluxgraph serve pipeline.json` opened, relative to --base-dir. */
  opened?: string;
  maxBodyBytes?: number;
  maxImageBytes?: number;
  log?: (line: string) => void;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], url: URL) => Promise<void> | void;

export interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  handler: Handler;
}

function bodyObject(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'invalid_body', 'send a JSON object');
  return body as Record<string, unknown>;
}

/** The fields a run and an estimate share. */
function runInput(body: Record<string, unknown>): StartRunRequest & { folder?: string } {
  return {
    pipeline: body.pipeline,
    ...(body.provider !== undefined ? { provider: body.provider as string } : {}),
    ...(body.variables ? { variables: body.variables as Record<string, string> } : {}),
    ...(typeof body.seedsFrom === 'string' ? { seedsFrom: body.seedsFrom } : {}),
    ...(body.only !== undefined ? { only: body.only as string[] } : {}),
  };
}

export function createApp(ctx: AppContext): (req: IncomingMessage, res: ServerResponse) => void {
  const limit = ctx.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const json = (res: ServerResponse, status: number, body: unknown) => sendJson(res, status, body, ctx.redact);
  /** The folder the request's document resolves relative paths against (see documents.ts). */
  const folderOf = async (body: Record<string, unknown>) => (ctx.documents ? await ctx.documents.folderOf(body.source as DocumentSource | undefined) : undefined);
  /** Where the request's document resolves paths, and the folder nothing outside of is read (the examples folder for a template). */
  const placeOf = async (body: Record<string, unknown>): Promise<{ folder?: string; confineTo?: string }> => {
    const folder = await folderOf(body);
    const root = ctx.documents?.rootOf(body.source as DocumentSource | undefined);
    return { ...(folder ? { folder } : {}), ...(root ? { confineTo: root } : {}) };
  };

  /** A run the requester may not see is, to them, a run that does not exist. */
  const mustSee = (id: string, req: IncomingMessage) => {
    const record = ctx.runs.get(id);
    if (!record || !visibleTo(record, whoIs(req))) throw new HttpError(404, 'run_not_found', `no run "${id}"`);
  };

  const routes: Route[] = [
    { method: 'GET', pattern: /^\/api\/info$/, handler: (_q, res) => json(res, 200, ctx.info) },
    { method: 'GET', pattern: /^\/api\/nodes$/, handler: (_q, res) => json(res, 200, ctx.descriptors) },
    { method: 'GET', pattern: /^\/api\/providers$/, handler: (_q, res) => json(res, 200, ctx.providers()) },
    // Account names and counts only, never keys: what each provider account is doing while runs go.
    { method: 'GET', pattern: /^\/api\/accounts$/, handler: (_q, res) => json(res, 200, { accounts: ctx.runs.accounts() }) },
    {
      method: 'POST',
      pattern: /^\/api\/validate$/,
      handler: async (req, res) => {
        const body = bodyObject(await readJsonBody(req, limit));
        const place = await placeOf(body);
        const result = await ctx.runs.validate({
          pipeline: body.pipeline,
          ...(typeof body.provider === 'string' ? { provider: body.provider } : {}),
          ...(body.variables ? { variables: body.variables as Record<string, string> } : {}),
          ...place,
        });
        json(res, 200, { ok: result.ok, issues: result.issues, ...(place.folder ? { folder: place.folder } : {}) });
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/runs$/,
      handler: async (req, res) => {
        const body = bodyObject(await readJsonBody(req, limit));
        const who = whoIs(req);
        const input = { ...runInput(body), ...(await placeOf(body)), ...(who ? { owner: { person: who.person, ...(who.team ? { team: who.team } : {}) } } : {}) };
        const started = await ctx.runs.start(input);
        ctx.log?.(`run ${started.runId} started${input.only ? ` (up to ${input.only.join(', ')})` : ''}`);
        json(res, 201, started);
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/estimate$/,
      handler: async (req, res) => {
        const body = bodyObject(await readJsonBody(req, limit));
        const input = { ...runInput(body), ...(await placeOf(body)) };
        const gone = new AbortController();
        res.on('close', () => gone.abort());
        const estimate: EstimateResponse = await ctx.runs.estimate(input, gone.signal);
        json(res, 200, estimate);
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/provenance$/,
      handler: async (req, res) => {
        const bytes = await readBinaryBody(req, ctx.maxImageBytes ?? MAX_IMAGE_BODY_BYTES);
        if (bytes.length === 0) throw new HttpError(400, 'invalid_body', 'send the image bytes');
        const record = extractProvenance(bytes);
        if (!record || !record.pipeline || typeof record.pipeline !== 'object') {
          throw new HttpError(422, 'no_provenance', 'this image carries no fluxgraph pipeline (only PNG, JPEG and WebP files saved by fluxgraph do)');
        }
        const answer: ProvenanceResponse = {
          pipeline: record.pipeline,
          ...(typeof record.runId === 'string' ? { runId: record.runId } : {}),
          ...(typeof record.nodeId === 'string' ? { nodeId: record.nodeId } : {}),
          ...(typeof record.item === 'number' ? { item: record.item } : {}),
          ...(typeof record.seed === 'number' ? { seed: record.seed } : {}),
        };
        json(res, 200, answer);
      },
    },
    // On a server with tokens a person sees and stops only their own runs; an admin, every run.
    { method: 'GET', pattern: /^\/api\/runs$/, handler: (req, res) => json(res, 200, { runs: ctx.runs.list().filter((r) => visibleTo(r, whoIs(req))) }) },
    {
      method: 'GET',
      pattern: /^\/api\/runs\/([A-Za-z0-9_.-]+)$/,
      handler: async (req, res, [id]) => {
        const record = await ctx.runs.details(id);
        if (!record || !visibleTo(record, whoIs(req))) throw new HttpError(404, 'run_not_found', `no run "${id}"`);
        json(res, 200, record);
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/runs\/([A-Za-z0-9_.-]+)\/events$/,
      handler: (req, res, [id]) => {
        mustSee(id, req);
        let unfollow: () => void = () => undefined;
        const sink = openEventStream(req, res, ctx.redact, () => unfollow());
        unfollow = ctx.runs.follow(
          id,
          lastEventId(req),
          (seq, e) => sink.send(seq, e),
          () => sink.end(),
        );
        if (sink.closed) unfollow();
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/runs\/([A-Za-z0-9_.-]+)\/zip$/,
      handler: async (req, res, [id]) => {
        mustSee(id, req);
        const files = await ctx.runs.filesOf(id);
        if (!files) throw new HttpError(404, 'run_not_found', `no run "${id}"`);
        await sendRunZip(res, files, ctx.images.store);
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/runs\/([A-Za-z0-9_.-]+)\/resume$/,
      handler: async (req, res, [id]) => {
        await readJsonBody(req, limit);
        mustSee(id, req);
        json(res, 201, await ctx.runs.resume(id));
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/runs\/([A-Za-z0-9_.-]+)\/cancel$/,
      handler: async (req, res, [id]) => {
        await readJsonBody(req, limit);
        mustSee(id, req);
        const cancelled = await ctx.runs.cancel(id);
        if (cancelled) ctx.log?.(`run ${id} cancelled${whoIs(req) ? ` by ${whoIs(req)!.person}` : ' from the editor'}`);
        json(res, 200, { cancelled });
      },
    },
    { method: 'GET', pattern: /^\/api\/images\/([^/]+)$/, handler: (req, res, [hash]) => ctx.images.serveImage(req, res, hash) },
    {
      method: 'GET',
      pattern: /^\/api\/images\/([^/]+)\/thumb$/,
      handler: (req, res, [hash], url) => ctx.images.serveThumbnail(req, res, hash, url.searchParams.get('size')),
    },
    ...(ctx.access ? sessionRoutes(ctx.access, ctx.redact, limit) : []),
    ...(ctx.documents ? documentRoutes({ documents: ctx.documents, ...(ctx.opened ? { opened: ctx.opened } : {}), redact: ctx.redact, maxBodyBytes: limit }) : []),
  ];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const rawUrl = req.url ?? '/';
    if (rawUrl.length > MAX_URL_LENGTH) throw new HttpError(414, 'uri_too_long', `URLs are limited to ${MAX_URL_LENGTH} characters`);
    const url = new URL(rawUrl, 'http://localhost');
    // In dev mode vite serves the editor's source modules by path, and editor/api/*.ts lives
    // under /api/ too; API routes never end in a source file extension.
    const isSourceModule = ctx.assets?.mode === 'dev' && /\.(tsx?|jsx?|css|map)$/.test(url.pathname);
    const isApi = (url.pathname === '/api' || url.pathname.startsWith('/api/')) && !isSourceModule;
    ctx.guard.check(req, { isApi });
    const method = (req.method ?? 'GET').toUpperCase();
    // A server others can reach: no valid token, no further (401, or the sign-in page).
    if (ctx.access && !(await admit(ctx.access, req, res, url, isApi, ctx.redact))) return;
    if (ctx.access && method === 'GET' && url.pathname === '/signin') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': SIGNIN_CSP, 'x-content-type-options': 'nosniff' });
      res.end(SIGNIN_PAGE);
      return;
    }

    if (isApi) {
      const matching = routes.filter((r) => r.pattern.test(url.pathname));
      if (matching.length === 0) throw new HttpError(404, 'not_found', `no API route ${url.pathname}`);
      const effective = method === 'HEAD' ? 'GET' : method;
      const route = matching.find((r) => r.method === effective);
      if (!route) {
        res.setHeader('allow', [...new Set(matching.map((r) => r.method))].join(', '));
        throw new HttpError(405, 'method_not_allowed', `${method} is not allowed on ${url.pathname}`);
      }
      const params = route.pattern.exec(url.pathname)!.slice(1);
      await route.handler(req, res, params, url);
      return;
    }

    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'method_not_allowed', `${method} is not allowed here`);
    if (ctx.assets && (await ctx.assets.handle(req, res, url.pathname))) return;
    throw new HttpError(404, 'not_found', `no file ${url.pathname}`);
  };

  return (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof HttpError) {
        if (e.status === 413) res.setHeader('connection', 'close');
        sendError(res, e, ctx.redact);
        return;
      }
      ctx.log?.(`internal error on ${req.method} ${req.url}: ${(e as Error)?.stack ?? String(e)}`);
      sendError(res, new HttpError(500, 'internal', ctx.redact((e as Error)?.message ?? 'internal error')), ctx.redact);
    });
  };
}

/** Without access control everyone sees every run; with it, a person their own, an admin all. */
function visibleTo(record: { owner?: string }, who: Identity | undefined): boolean {
  return !who || who.admin || record.owner === who.person;
}
