/** kie.ai's file upload API as docs.kie.ai/file-upload-api describes it (providers.md 9). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { download, postJson, solidPng } from './helpers';

const pngBytes = () => solidPng(16, 16, [200, 40, 40]);

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 20 });
});
afterAll(() => emulator.close());

const auth = { authorization: 'Bearer k' };

describe('emulated kie.ai upload API', () => {
  it('multipart file-stream-upload stores the file and serves it at data.downloadUrl', async () => {
    const png = await pngBytes();
    const form = new FormData();
    form.set('file', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'a.png');
    form.set('uploadPath', 'images/user');
    form.set('fileName', 'mine.png');
    const res = await fetch(`${emulator.baseUrl}/api/file-stream-upload`, { method: 'POST', headers: auth, body: form });
    const body = (await res.json()) as any;
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ success: true, code: 200, data: { fileName: 'mine.png', filePath: 'images/user/mine.png', fileSize: png.length, mimeType: 'image/png' } });
    const got = await download(body.data.downloadUrl);
    expect(got.status).toBe(200);
    expect(got.bytes.equals(png)).toBe(true);
  });

  it('file-base64-upload takes plain base64 or a data URL', async () => {
    const png = await pngBytes();
    for (const base64Data of [png.toString('base64'), `data:image/png;base64,${png.toString('base64')}`]) {
      const r = await postJson(`${emulator.baseUrl}/api/file-base64-upload`, { base64Data, uploadPath: 'x' }, auth);
      expect(r.json.code).toBe(200);
      expect((await download(r.json.data.downloadUrl)).bytes.equals(png)).toBe(true);
    }
  });

  it('file-url-upload fetches fileUrl itself and names the file after the URL when no fileName is given', async () => {
    const png = await pngBytes();
    const first = await postJson(`${emulator.baseUrl}/api/file-base64-upload`, { base64Data: png.toString('base64'), uploadPath: 'x', fileName: 'source.png' }, auth);
    const r = await postJson(`${emulator.baseUrl}/api/file-url-upload`, { fileUrl: first.json.data.downloadUrl, uploadPath: 'copies' }, auth);
    expect(r.json).toMatchObject({ success: true, code: 200, data: { fileName: 'source.png', filePath: 'copies/source.png', mimeType: 'image/png' } });
    expect((await download(r.json.data.downloadUrl)).bytes.equals(png)).toBe(true);
    const bad = await postJson(`${emulator.baseUrl}/api/file-url-upload`, { fileUrl: 'ftp://x/y.png', uploadPath: 'copies' }, auth);
    expect(bad.json).toMatchObject({ success: false, code: 400, msg: expect.stringMatching(/fileUrl/) });
  });

  it('refuses a missing key, a missing uploadPath, a missing file and bad base64', async () => {
    const png = await pngBytes();
    expect((await postJson(`${emulator.baseUrl}/api/file-base64-upload`, { base64Data: png.toString('base64'), uploadPath: 'x' })).json.code).toBe(401);
    expect((await postJson(`${emulator.baseUrl}/api/file-base64-upload`, { base64Data: png.toString('base64') }, auth)).json).toMatchObject({ success: false, code: 400, msg: expect.stringMatching(/uploadPath/) });
    expect((await postJson(`${emulator.baseUrl}/api/file-base64-upload`, { base64Data: '%%%', uploadPath: 'x' }, auth)).json.code).toBe(400);
    const form = new FormData();
    form.set('uploadPath', 'x');
    const res = await fetch(`${emulator.baseUrl}/api/file-stream-upload`, { method: 'POST', headers: auth, body: form });
    expect(((await res.json()) as any).msg).toMatch(/file is required/);
  });

  it('uploaded files are gone after their lifetime', async () => {
    let now = Date.now();
    const short = await startEmulator({ uploadTtlMs: 1000, clock: () => now });
    try {
      const r = await postJson(`${short.baseUrl}/api/file-base64-upload`, { base64Data: (await pngBytes()).toString('base64'), uploadPath: 'x' }, auth);
      expect((await download(r.json.data.downloadUrl)).status).toBe(200);
      now += 2000;
      expect((await download(r.json.data.downloadUrl)).status).toBe(404);
    } finally {
      await short.close();
    }
  });
});
