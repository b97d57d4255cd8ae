import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileResponse, FilesResponse, StartRunResponse, TemplatesResponse, ValidateResponse } from '../../editor/api/types';
import { tempDir } from '../helpers/tmp';
import { request, startTestServer } from './helpers';

const EXAMPLES = resolve(__dirname, '../../examples');
let server: Awaited<ReturnType<typeof startTestServer>>;
let cwd: string;
let outside: string;
const pipeline = () => JSON.parse(readFileSync(join(cwd, 'proj/reference-edit.json'), 'utf8')) as unknown;

beforeAll(async () => {
  cwd = tempDir('fluxgraph-docs-');
  outside = tempDir('fluxgraph-outside-');
  mkdirSync(join(cwd, 'proj'));
  cpSync(join(EXAMPLES, 'reference-edit.json'), join(cwd, 'proj/reference-edit.json'));
  cpSync(join(EXAMPLES, 'assets'), join(cwd, 'proj/assets'), { recursive: true });
  writeFileSync(join(outside, 'secret.json'), '{"nodes": []}');
  symlinkSync(outside, join(cwd, 'escape'));
  server = await startTestServer({ cwd, open: 'proj/reference-edit.json' });
});

afterAll(async () => {
  await server?.close();
  rmSync(cwd, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('pipeline documents through the server', () => {
  it('names the file the server was started with, and lists the pipeline files in the base folder', async () => {
    expect((await request(server, 'GET', '/api/opened')).json()).toEqual({ path: 'proj/reference-edit.json' });
    const files = (await request(server, 'GET', '/api/files')).json<FilesResponse>();
    expect(files.baseDir).toBe(cwd);
    expect(files.files.map((f) => f.path)).toEqual(['proj/reference-edit.json']);
    expect(files.files[0].nodes).toBe(4);
  });

  it('resolves relative reference paths against the opened file’s folder, as the CLI does; without a folder, against the base folder', async () => {
    const withSource = (await request(server, 'POST', '/api/validate', { body: { pipeline: pipeline(), source: { kind: 'file', path: 'proj/reference-edit.json' } } })).json<ValidateResponse>();
    expect(withSource.issues.filter((i) => i.severity === 'error')).toEqual([]);
    expect(withSource.folder).toBe(join(cwd, 'proj'));
    const noSource = (await request(server, 'POST', '/api/validate', { body: { pipeline: pipeline() } })).json<ValidateResponse>();
    expect(noSource.issues.map((i) => i.message).join('\n')).toContain(`${join(cwd, 'assets/still-life.png')}: file not found`);
    expect(noSource.folder).toBe(cwd);
    const template = (await request(server, 'POST', '/api/validate', { body: { pipeline: pipeline(), source: { kind: 'template', name: 'reference-edit' } } })).json<ValidateResponse>();
    expect(template.ok).toBe(true);
  });

  it('runs the opened file with its references found', async () => {
    const res = await request(server, 'POST', '/api/runs', { body: { pipeline: pipeline(), source: { kind: 'file', path: 'proj/reference-edit.json' } } });
    expect(res.status).toBe(201);
    const { runId } = res.json<StartRunResponse>();
    await server.runs.settled(runId);
    expect(server.runs.get(runId)!.status).toBe('done');
  });

  it('reads and writes files inside the base folder only, never over an existing file unless asked', async () => {
    const read = (await request(server, 'GET', '/api/files/read?path=proj/reference-edit.json')).json<FileResponse>();
    expect(JSON.parse(read.text)).toEqual(pipeline());
    for (const path of ['../x.json', '/etc/passwd.json', 'escape/secret.json']) {
      const res = await request(server, 'GET', `/api/files/read?path=${encodeURIComponent(path)}`);
      expect(res.status, path).toBe(403);
      expect(res.json<{ error: { code: string } }>().error.code).toBe('outside_base_dir');
    }
    const write = (path: string, overwrite?: boolean) => request(server, 'POST', '/api/files/write', { body: { path, text: '{"version":1,"nodes":[],"edges":[]}\n', ...(overwrite ? { overwrite } : {}) } });
    expect((await write('new/one.json')).status).toBe(200);
    expect(existsSync(join(cwd, 'new/one.json'))).toBe(true);
    const again = await write('new/one.json');
    expect(again.status).toBe(409);
    expect(again.json<{ error: { code: string } }>().error.code).toBe('file_exists');
    expect((await write('new/one.json', true)).status).toBe(200);
    expect((await write('../escaped.json')).status).toBe(403);
    expect((await write('escape/planted.json')).status).toBe(403);
    expect(existsSync(join(outside, 'planted.json'))).toBe(false);
    expect((await write('notes.txt')).status).toBe(400);
    expect((await request(server, 'POST', '/api/validate', { body: { pipeline: pipeline(), source: { kind: 'file', path: '../elsewhere/p.json' } } })).status).toBe(403);
  });

  it('offers the examples as templates', async () => {
    const { templates } = (await request(server, 'GET', '/api/templates')).json<TemplatesResponse>();
    expect(templates.map((t) => t.name)).toEqual(expect.arrayContaining(['draft-then-refine', 'reference-edit']));
    const t = (await request(server, 'GET', '/api/templates/draft-then-refine')).json<{ text: string }>();
    expect(JSON.parse(t.text)).toEqual(JSON.parse(readFileSync(join(EXAMPLES, 'draft-then-refine.json'), 'utf8')));
    expect((await request(server, 'GET', '/api/templates/nope')).status).toBe(404);
  });
});

describe('reference images uploaded from the browser', () => {
  const png = () => readFileSync(join(EXAMPLES, 'assets/still-life.png'));
  const upload = (query: string, body: Buffer, type = 'image/png') => request(server, 'POST', `/api/assets?${query}`, { rawBody: body, headers: { 'content-type': type } });

  it('writes the image into assets/ beside the document under a clean name, never over an existing file', async () => {
    const first = await upload('name=My%20Photo%20(1).PNG&doc=proj/reference-edit.json', png());
    expect(first.status).toBe(201);
    expect(first.json()).toMatchObject({ source: 'assets/my-photo-1.png', path: 'proj/assets/my-photo-1.png' });
    const second = (await upload('name=My%20Photo%20(1).PNG&doc=proj/reference-edit.json', png())).json<{ source: string }>();
    expect(second.source).toBe('assets/my-photo-1-2.png');
    expect(readFileSync(join(cwd, 'proj/assets/my-photo-1-2.png')).equals(png())).toBe(true);
    // The shipped still-life.png is there already: kept, the upload takes the next name.
    const clash = (await upload('name=still-life.png&doc=proj/reference-edit.json', png())).json<{ source: string }>();
    expect(clash.source).toBe('assets/still-life-2.png');
    // A path in the name is not followed.
    expect((await upload('name=..%2F..%2Fevil.png&doc=proj/reference-edit.json', png())).json<{ path: string }>().path).toBe('proj/assets/evil.png');
    // No document file: the base folder's assets/.
    expect((await upload('name=x.png', png())).json<{ path: string }>().path).toBe('assets/x.png');
  });

  it('refuses what is not an image, what is too large, and documents outside the base folder', async () => {
    const text = await upload('name=notes.png&doc=proj/reference-edit.json', Buffer.from('hello, not a png'));
    expect(text.status).toBe(415);
    expect(text.json<{ error: { code: string } }>().error.code).toBe('not_an_image');
    const huge = Buffer.concat([png(), Buffer.alloc(20 * 1024 * 1024 + 100_000)]);
    const big = await upload('name=big.png&doc=proj/reference-edit.json', huge);
    expect(big.status).toBe(413);
    expect(big.json<{ error: { message: string } }>().error.message).toContain('limited to 20 MB');
    expect((await upload('name=x.png&doc=../other/p.json', png())).status).toBe(403);
    expect((await upload('name=x.png&doc=escape/p.json', png())).status).toBe(403);
    expect(existsSync(join(outside, 'assets'))).toBe(false);
  });
});
