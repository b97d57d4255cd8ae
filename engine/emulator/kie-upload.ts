/**
 * kie.ai's file upload API (providers.md 9, docs.kie.ai/file-upload-api): Bearer key;
 * `POST /api/file-stream-upload` (multipart: `file`, `uploadPath`, optional `fileName`) and
 * `POST /api/file-base64-upload` (JSON: `base64Data` as plain base64 or a data URL, `uploadPath`,
 * optional `fileName`), `POST /api/file-url-upload` (JSON: `fileUrl`, fetched within 30 s,
 * `uploadPath`, optional `fileName`). The answer is `{success, code, msg, data: {fileName, filePath,
 * downloadUrl, fileSize, mimeType, uploadedAt}}`. Uploads are free and temporary; the files are
 * served at `downloadUrl` until they expire (24 hours here, the shorter of the two documented
 * lifetimes [U]).
 */
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { bearerToken, BodyTooLargeError, isPlainObject, parseJson, readBody, type Reply } from './http';
import type { HandlerResult, RequestContext, Route } from './protocol';
import type { EmulatorState } from './state';

export const UPLOAD_TTL_MS = 24 * 60 * 60_000;
/** kie documents no limit for uploads; the createTask inputs take at most 10 MB each. */
const MAX_UPLOAD_BYTES = 20 * 1024 * 1024;
const MAX_FILES = 500;
const FILE_PATH = /^\/kie-files\/([0-9a-f]{24})\/([^/]+)$/;

interface StoredFile {
  bytes: Buffer;
  mime: string;
  expiresAt: number;
}

const filesOf = new WeakMap<EmulatorState, Map<string, StoredFile>>();

function files(state: EmulatorState): Map<string, StoredFile> {
  let m = filesOf.get(state);
  if (!m) filesOf.set(state, (m = new Map()));
  return m;
}

const answer = (status: number, code: number, msg: string, data: unknown = null): Reply => ({ status, body: { success: code === 200, code, msg, data } });

async function store(ctx: RequestContext, bytes: Buffer, uploadPath: unknown, fileName: unknown): Promise<Reply> {
  const { state } = ctx;
  if (typeof uploadPath !== 'string' || uploadPath.trim() === '') return answer(400, 400, 'uploadPath is required');
  if (fileName !== undefined && fileName !== null && (typeof fileName !== 'string' || fileName === '' || /[/\\]/.test(fileName))) {
    return answer(400, 400, 'fileName must be a file name');
  }
  if (bytes.length === 0) return answer(400, 400, 'file is empty');
  if (bytes.length > MAX_UPLOAD_BYTES) return answer(413, 413, 'file too large');
  let format: string | undefined;
  try {
    format = (await sharp(bytes).metadata()).format;
  } catch {
    format = undefined;
  }
  const mime = format ? `image/${format === 'jpg' ? 'jpeg' : format}` : 'application/octet-stream';
  const name = (fileName as string | undefined) ?? `${randomBytes(6).toString('hex')}.${format ?? 'bin'}`;
  const token = randomBytes(12).toString('hex');
  const all = files(state);
  const now = state.now();
  for (const [k, f] of all) if (f.expiresAt < now || all.size >= MAX_FILES) all.delete(k);
  all.set(token, { bytes, mime, expiresAt: now + (state.options.uploadTtlMs ?? UPLOAD_TTL_MS) });
  state.stats.data.uploads.kie++;
  const path = `${uploadPath.replace(/^\/+|\/+$/g, '')}/${name}`;
  return answer(200, 200, 'File uploaded successfully', {
    fileName: name,
    filePath: path,
    downloadUrl: `${state.pollBaseUrl}/kie-files/${token}/${encodeURIComponent(name)}`,
    fileSize: bytes.length,
    mimeType: mime,
    uploadedAt: new Date(now).toISOString(),
  });
}

function authorized(ctx: RequestContext): boolean {
  return ctx.state.authorize(bearerToken(ctx.req)).ok;
}

async function rawBody(ctx: RequestContext): Promise<Buffer | Reply> {
  try {
    return await readBody(ctx.req, MAX_UPLOAD_BYTES * 2);
  } catch (e) {
    if (e instanceof BodyTooLargeError) return answer(413, 413, 'request too large');
    throw e;
  }
}

async function streamUpload(ctx: RequestContext): Promise<HandlerResult> {
  if (!authorized(ctx)) return answer(401, 401, 'You do not have access permissions');
  const type = ctx.req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data/i.test(type)) return answer(400, 400, 'multipart/form-data with a file field is required');
  const raw = await rawBody(ctx);
  if (!Buffer.isBuffer(raw)) return raw;
  let form: FormData;
  try {
    form = await new Request('http://emulator.invalid/', { method: 'POST', headers: { 'content-type': type }, body: new Uint8Array(raw) }).formData();
  } catch {
    return answer(400, 400, 'malformed multipart body');
  }
  const file = form.get('file');
  if (!file || typeof file === 'string') return answer(400, 400, 'file is required');
  return store(ctx, Buffer.from(await file.arrayBuffer()), form.get('uploadPath') ?? undefined, form.get('fileName') ?? undefined);
}

async function base64Upload(ctx: RequestContext): Promise<HandlerResult> {
  if (!authorized(ctx)) return answer(401, 401, 'You do not have access permissions');
  const raw = await rawBody(ctx);
  if (!Buffer.isBuffer(raw)) return raw;
  const json = parseJson(raw);
  if (!json.ok || !isPlainObject(json.value)) return answer(400, 400, 'request body must be a JSON object');
  const { base64Data, uploadPath, fileName } = json.value;
  if (typeof base64Data !== 'string' || base64Data === '') return answer(400, 400, 'base64Data is required');
  const m = /^data:([^;,]*);base64,(.*)$/s.exec(base64Data);
  const payload = m ? m[2] : base64Data;
  if (!/^[A-Za-z0-9+/=\s]+$/.test(payload)) return answer(400, 400, 'base64Data is not valid base64');
  return store(ctx, Buffer.from(payload, 'base64'), uploadPath, fileName);
}

/** kie fetches `fileUrl` itself, with a 30-second download timeout (docs.kie.ai file-url-upload). */
async function urlUpload(ctx: RequestContext): Promise<HandlerResult> {
  if (!authorized(ctx)) return answer(401, 401, 'You do not have access permissions');
  const raw = await rawBody(ctx);
  if (!Buffer.isBuffer(raw)) return raw;
  const json = parseJson(raw);
  if (!json.ok || !isPlainObject(json.value)) return answer(400, 400, 'request body must be a JSON object');
  const { fileUrl, uploadPath, fileName } = json.value;
  if (typeof fileUrl !== 'string' || !/^https?:\/\//i.test(fileUrl)) return answer(400, 400, 'fileUrl must be an http(s) URL');
  let bytes: Buffer;
  try {
    const res = await fetch(fileUrl, { signal: AbortSignal.timeout(30_000) });
    if (!res.ok) return answer(400, 400, `could not download fileUrl: HTTP ${res.status}`);
    bytes = Buffer.from(await res.arrayBuffer());
  } catch (e) {
    return answer(400, 400, `could not download fileUrl: ${(e as Error).message}`);
  }
  // Without a fileName, kie takes the name from the URL.
  const fromUrl = decodeURIComponent(new URL(fileUrl).pathname.split('/').pop() ?? '') || undefined;
  return store(ctx, bytes, uploadPath, fileName ?? fromUrl);
}

/** GET of an uploaded file; 404 once it expired (kie deletes them). */
export async function serveUploadedFile(ctx: RequestContext): Promise<HandlerResult> {
  const m = FILE_PATH.exec(ctx.url.pathname);
  const f = m ? files(ctx.state).get(m[1]) : undefined;
  if (!f || f.expiresAt < ctx.state.now()) return { status: 404, body: { code: 404, msg: 'File not found' } };
  ctx.res.writeHead(200, { 'content-type': f.mime, 'content-length': f.bytes.length });
  ctx.res.end(f.bytes);
  return null;
}

export const kieUploadRoutes: Route[] = [
  { method: 'POST', path: '/api/file-stream-upload', phase: 'poll', handle: streamUpload },
  { method: 'POST', path: '/api/file-base64-upload', phase: 'poll', handle: base64Upload },
  { method: 'POST', path: '/api/file-url-upload', phase: 'poll', handle: urlUpload },
  { method: 'GET', path: FILE_PATH, phase: 'download', handle: serveUploadedFile },
];
