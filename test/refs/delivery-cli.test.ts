/**
 * Reference delivery end to end (issue 10): the real CLI against an emulator over HTTP. What a
 * URL-only provider receives is read back from the provider's own echo of the submitted input.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { startLocalS3, type LocalS3 } from '../helpers/s3-server';
import { solidPng } from '../emulator/helpers';
import { cli, withoutProviderLines } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';
import { crunTask, emulatorEnv, imagesOf, kieInput, referenceEdit, runPipelineCli } from './helpers';

let emulator: Emulator;
let s3: LocalS3;
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 50 });
  s3 = await startLocalS3('fluxgraph-refs');
});
afterAll(async () => {
  await emulator.close();
  await s3.close();
});
afterEach(() => {
  emulator.setFaults({});
  emulator.reset();
});

/** A port nothing listens on right now, for the CLI's callback receiver. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const DRAFT_THEN_REFINE = {
  version: 1,
  name: 'draft-then-refine-crun',
  settings: { provider: 'crun' },
  nodes: [
    { id: 'idea', type: 'prompt', params: { text: 'a lighthouse on a rocky coast at dawn' } },
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 512, height: 512, count: 3, seed: 1000 } },
    { id: 'pick', type: 'pick-images', params: { indices: [0, 2] } },
    { id: 'refine', type: 'flux-max-refine', params: { seed: 7 } },
    { id: 'save', type: 'save-image', params: { template: 'final-{index}' } },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'pick', targetHandle: 'images' },
    { source: 'pick', sourceHandle: 'images', target: 'refine', targetHandle: 'images' },
    { source: 'idea', sourceHandle: 'text', target: 'refine', targetHandle: 'prompt' },
    { source: 'refine', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
};

describe('reference delivery to URL-only providers', () => {
  it('draft-then-refine on crun: each refine receives the URL crun gave its draft', async () => {
    const dir = tempDir();
    const r = await runPipelineCli(dir, DRAFT_THEN_REFINE, [], emulatorEnv(emulator));
    expect(r.stderr).not.toMatch(/local file/);
    expect(r.code).toBe(0);
    const drafts = imagesOf(r, 'drafts');
    const refines = imagesOf(r, 'refine');
    expect(refines).toHaveLength(2);
    for (const [i, refine] of refines.entries()) {
      const draft = drafts[[0, 2][i]];
      const sent = await crunTask(emulator, refine.meta!.taskId!);
      const made = await crunTask(emulator, draft.meta!.taskId!);
      expect(sent.input.img_urls).toEqual([made.mediaUrls[0]]);
      expect(refine.meta?.referenceDelivery).toEqual([{ hash: draft.hash, route: 'provider-url', host: new URL(made.mediaUrls[0]).host }]);
    }
    expect(r.summary?.references?.map((d) => d.route)).toEqual(['provider-url', 'provider-url']);
    const sidecar = JSON.parse(readFileSync(r.events.flatMap((e) => (e.type === 'fileWritten' ? [e.sidecar] : []))[0], 'utf8'));
    expect(sidecar.referenceDelivery[0].route).toBe('provider-url');
    // Route and host only: no signed query string ends up in the sidecar.
    expect(JSON.stringify(sidecar)).not.toMatch(/sig=|se=/);
  });

  it('CRUN_INPUT_STYLE=input_images against a crun that keeps input_images: each refine gets its draft\'s URL there; the default style is refused, never half-read', async () => {
    const strict = await startEmulator({ latencyMs: 50, crunInputStyle: 'input_images' });
    try {
      const ok = await runPipelineCli(tempDir(), DRAFT_THEN_REFINE, [], emulatorEnv(strict, { CRUN_INPUT_STYLE: 'input_images' }));
      expect(ok.code).toBe(0);
      const drafts = imagesOf(ok, 'drafts');
      for (const [i, refine] of imagesOf(ok, 'refine').entries()) {
        const made = await crunTask(strict, drafts[[0, 2][i]].meta!.taskId!);
        expect((await crunTask(strict, refine.meta!.taskId!)).input.input_images).toEqual([made.mediaUrls[0]]);
      }
      // The other style against it: refused loudly (its "1K" resolution is not a megapixel tier), nothing made.
      const wrong = await runPipelineCli(tempDir(), DRAFT_THEN_REFINE, [], emulatorEnv(strict));
      expect(wrong.code).toBe(1);
      expect(wrong.summary?.failures.map((f) => [f.nodeId, f.code])).toEqual([0, 1, 2].map(() => ['drafts', 'provider_rejected']));
      expect(wrong.summary?.failures[0].message).toMatch(/refused parameter "resolution"/);
      // Only the first run made tasks (3 drafts, 2 refines): the refused submits made none.
      expect(strict.stats().submissions.crun).toBe(5);
    } finally {
      await strict.close();
    }
  });

  it('a local image reaches kie.ai through its upload API, uploaded once', async () => {
    const dir = tempDir();
    const doc = referenceEdit('kie');
    // Two nodes use the same image: it is still uploaded once.
    doc.nodes.push({ id: 'edit2', type: 'flux-flex-generate', params: { width: 512, height: 512, seed: 43, provider: 'kie' } });
    doc.edges.push({ source: 'photo', sourceHandle: 'image', target: 'edit2', targetHandle: 'references' }, { source: 'instruction', sourceHandle: 'text', target: 'edit2', targetHandle: 'prompt' });
    const r = await runPipelineCli(dir, doc, [], emulatorEnv(emulator));
    expect(r.code).toBe(0);
    expect(emulator.stats().uploads.kie).toBe(1);
    const [edit] = imagesOf(r, 'edit');
    const input = await kieInput(emulator, edit.meta!.taskId!);
    expect(input.input_urls).toEqual([expect.stringMatching(/\/kie-files\//)]);
    expect(edit.meta?.referenceDelivery?.[0].route).toBe('upload');
    // Said once per run: the image is fetchable by others for a while.
    expect(r.summary?.warnings.filter((w) => /fetchable by others/.test(w.message))).toHaveLength(1);
  });

  it('two different local images: each uploaded once, and the notice that they are fetchable by others said once per run', async () => {
    const dir = tempDir();
    const second = join(dir, 'second.png');
    writeFileSync(second, await solidPng(64, 48, [20, 120, 220]));
    const doc = referenceEdit('kie');
    doc.nodes.push({ id: 'photo2', type: 'reference-image', params: { source: second } }, { id: 'edit2', type: 'flux-flex-generate', params: { width: 512, height: 512, seed: 44, provider: 'kie' } });
    doc.edges.push({ source: 'photo2', sourceHandle: 'image', target: 'edit2', targetHandle: 'references' }, { source: 'instruction', sourceHandle: 'text', target: 'edit2', targetHandle: 'prompt' });
    const r = await runPipelineCli(dir, doc, [], emulatorEnv(emulator));
    expect(r.code).toBe(0);
    expect(emulator.stats().uploads.kie).toBe(2);
    expect(r.events.filter((e) => e.type === 'warning' && /fetchable by others/.test(e.message))).toHaveLength(1);
    expect(r.summary?.references?.map((d) => d.route)).toEqual(['upload', 'upload']);
  });

  it('a resumed run re-uses the upload of the interrupted one instead of uploading again', async () => {
    const dir = tempDir();
    emulator.setFaults({ submit: { insufficientCredits: 1 }, providers: ['kie'] });
    const first = await runPipelineCli(dir, referenceEdit('kie'), [], emulatorEnv(emulator));
    expect(first.code).toBe(1);
    expect(emulator.stats().uploads.kie).toBe(1);
    emulator.setFaults({});
    const again = await runPipelineCli(dir, undefined, ['--resume', first.summary!.runId], emulatorEnv(emulator));
    expect(again.code).toBe(0);
    expect(emulator.stats().uploads.kie).toBe(1);
    expect(imagesOf(again, 'edit')[0].meta?.referenceDelivery?.[0].route).toBe('upload');
  });

  it('an expired provider URL falls back to the next way (kie upload)', async () => {
    const doc = {
      version: 1,
      name: 'crun-then-kie',
      nodes: [
        { id: 'idea', type: 'prompt', params: { text: 'a red kite over dunes' } },
        { id: 'draft', type: 'flux-flex-generate', params: { width: 512, height: 512, seed: 5, provider: 'crun' } },
        { id: 'edit', type: 'flux-flex-generate', params: { width: 512, height: 512, seed: 6, provider: 'kie' } },
      ],
      edges: [
        { source: 'idea', sourceHandle: 'text', target: 'draft', targetHandle: 'prompt' },
        { source: 'idea', sourceHandle: 'text', target: 'edit', targetHandle: 'prompt' },
        { source: 'draft', sourceHandle: 'images', target: 'edit', targetHandle: 'references' },
      ],
    };
    // crun's URL lives 10 minutes (assumed); asking for 20 more makes it count as expiring.
    const late = await runPipelineCli(tempDir(), doc, [], emulatorEnv(emulator, { FLUXGRAPH_REFERENCE_MIN_VALID_SEC: '1200' }));
    expect(late.code).toBe(0);
    expect(imagesOf(late, 'edit')[0].meta?.referenceDelivery?.[0].route).toBe('upload');
    expect(emulator.stats().uploads.kie).toBe(1);
    // The same chain with the default margin passes crun's URL on, and uploads nothing.
    emulator.reset();
    const fresh = await runPipelineCli(tempDir(), doc, [], emulatorEnv(emulator));
    expect(fresh.code).toBe(0);
    expect(imagesOf(fresh, 'edit')[0].meta?.referenceDelivery?.[0].route).toBe('provider-url');
    expect(emulator.stats().uploads.kie).toBe(0);
  });

  it('a cached draft whose crun URL has run out, with no other way, is a pre-flight error of the next run: exit 2, nothing spent, never made again', async () => {
    const dir = tempDir();
    const first = await runPipelineCli(dir, DRAFT_THEN_REFINE, [], emulatorEnv(emulator));
    expect(first.code).toBe(0);
    emulator.reset();
    // A new refine of the same (seeded, so cached) drafts; a 20-minute margin outlives crun's URLs (10 minutes, assumed).
    const changed = structuredClone(DRAFT_THEN_REFINE);
    changed.nodes.find((n) => n.id === 'refine')!.params = { seed: 8 };
    const late = { FLUXGRAPH_REFERENCE_MIN_VALID_SEC: '1200' };
    const r = await runPipelineCli(dir, changed, [], emulatorEnv(emulator, late));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: node "refine" \(flux-max-refine\), 2 items: provider "crun".*reference 1, the image of node "drafts" taken from the cache, has no URL left.*crun result URL expires at .*FLUXGRAPH_REFERENCE_BUCKET.*FLUXGRAPH_PUBLIC_URL.*--no-cache.*\[needs_public_url\]/s);
    expect(Object.values(emulator.stats().submitRequests).reduce((a, b) => a + b, 0)).toBe(0);
    // `estimate` says the same as a warning, and still prices the run.
    const est = await cli(['estimate', join(dir, 'pipeline.json'), '--cache-dir', join(dir, 'cache')], { cwd: dir, env: emulatorEnv(emulator, late) });
    expect(est.code).toBe(0);
    expect(est.stderr + est.stdout).toMatch(/warning: node "refine".*taken from the cache/s);
    // With a way to deliver it (a bucket), the same run goes ahead and sends the cached draft through it.
    const env = emulatorEnv(emulator, { ...late, ...s3.env, FLUXGRAPH_REFERENCE_BUCKET: 's3://fluxgraph-refs/cached' });
    const ok = await runPipelineCli(dir, changed, [], env);
    expect(ok.code).toBe(0);
    expect(imagesOf(ok, 'refine').map((i) => i.meta?.referenceDelivery?.[0].route)).toEqual(['bucket', 'bucket']);
    expect(emulator.stats().submissions.crun).toBe(2);
  });

  for (const provider of ['novita', 'crun']) {
    it(`a local image reaches ${provider} through the user's S3 bucket, stored by hash, as a 15-minute presigned URL`, async () => {
      const env = emulatorEnv(emulator, { ...s3.env, FLUXGRAPH_REFERENCE_BUCKET: 's3://fluxgraph-refs/refs/run' });
      const r = await runPipelineCli(tempDir(), referenceEdit(provider), [], env);
      expect(withoutProviderLines(r.stderr)).toBe('');
      expect(r.code).toBe(0);
      const [edit] = imagesOf(r, 'edit');
      const hash = edit.meta!.sourceHashes![0];
      expect(edit.meta?.referenceDelivery).toEqual([{ hash, route: 'bucket', host: new URL(s3.endpoint).host }]);
      if (provider === 'crun') {
        const sent = (await crunTask(emulator, edit.meta!.taskId!)).input.img_urls as string[];
        expect(sent[0]).toMatch(new RegExp(`^${s3.endpoint}/fluxgraph-refs/refs/run/${hash}\\.png\\?.*X-Amz-Expires=900`));
      }
      expect(JSON.stringify(r.events)).not.toMatch(/X-Amz-Signature|S3RVER/);
      // The sidecar says how the reference went, never with the presigned query.
      const sidecar = readFileSync(r.events.flatMap((e) => (e.type === 'fileWritten' ? [e.sidecar] : []))[0], 'utf8');
      expect(JSON.parse(sidecar).referenceDelivery).toEqual([{ hash, route: 'bucket', host: new URL(s3.endpoint).host }]);
      expect(sidecar).not.toMatch(/X-Amz-|S3RVER/);
    });

    it(`a local image reaches ${provider} through fluxgraph's public-URL server`, async () => {
      const port = await freePort();
      const env = emulatorEnv(emulator, { FLUXGRAPH_PUBLIC_URL: `http://127.0.0.1:${port}`, FLUXGRAPH_CALLBACK_PORT: String(port) });
      const r = await runPipelineCli(tempDir(), referenceEdit(provider), [], env);
      expect(withoutProviderLines(r.stderr)).toBe('');
      expect(r.code).toBe(0);
      const [edit] = imagesOf(r, 'edit');
      expect(edit.meta?.referenceDelivery).toEqual([{ hash: edit.meta!.sourceHashes![0], route: 'public-server', host: `127.0.0.1:${port}` }]);
      if (provider === 'crun') {
        const sent = await crunTask(emulator, edit.meta!.taskId!);
        expect(sent.input.img_urls).toEqual([expect.stringMatching(new RegExp(`^http://127\\.0\\.0\\.1:${port}/refs/${edit.meta!.sourceHashes![0]}\\?exp=\\d+&sig=`))]);
      }
      expect(JSON.stringify(r.summary)).not.toMatch(/sig=/);
    });
  }

  it('a local image into novita with no bucket and no public URL is a pre-flight error: exit 2, nothing spent', async () => {
    const r = await runPipelineCli(tempDir(), referenceEdit('novita'), [], emulatorEnv(emulator));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/node "edit".*public URLs.*"photo".*FLUXGRAPH_REFERENCE_BUCKET.*FLUXGRAPH_PUBLIC_URL.*\[needs_public_url\]/s);
    const s = emulator.stats();
    expect(Object.values(s.submitRequests).reduce((a, b) => a + b, 0)).toBe(0);
    expect(s.uploads.kie).toBe(0);
  });

  it('FLUXGRAPH_REFERENCE_UPLOADS=off turns the upload API off, so a local image into kie is refused before anything is spent', async () => {
    const r = await runPipelineCli(tempDir(), referenceEdit('kie'), [], emulatorEnv(emulator, { FLUXGRAPH_REFERENCE_UPLOADS: 'off' }));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/FLUXGRAPH_REFERENCE_UPLOADS=off/);
    expect(emulator.stats().submitRequests.kie).toBe(0);
    expect(emulator.stats().uploads.kie).toBe(0);
  });
});


