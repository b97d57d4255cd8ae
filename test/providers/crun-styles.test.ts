/**
 * crun.ai's two plausible FLUX.2 input shapes (issue 10): the adapter speaks either, the emulator
 * enforces either, and a reference crun did not keep fails the item instead of vanishing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineError } from '../../engine/core/errors';
import type { Emulator } from '../../engine/emulator/types';
import { CRUN_INPUT_SHAPES, createCrunProvider, type CrunInputStyle } from '../../engine/providers/crun';
import { caught, emulator, FAST_POLL, fixtures, request, type Fixtures } from './helpers';
import sharp from 'sharp';

const signal = () => new AbortController().signal;
const STYLES: CrunInputStyle[] = ['img_urls', 'input_images'];

let fx: Fixtures;
const emus = new Map<CrunInputStyle, Emulator>();
beforeAll(async () => {
  fx = await fixtures();
  for (const style of STYLES) emus.set(style, await emulator({ crunInputStyle: style }));
});
afterAll(async () => {
  for (const e of emus.values()) await e.close();
  await fx.close();
});

const crun = (emu: Emulator, style: CrunInputStyle) => createCrunProvider({ apiKey: 'k', baseUrl: emu.baseUrl, poll: FAST_POLL, inputStyle: style });

async function echoedInput(emu: Emulator, taskId: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${emu.baseUrl}/api/v1/client/job/TaskInfo?task_id=${taskId}`, { headers: { 'x-api-key': 'k' } });
  return ((await res.json()) as { data: { param: { input: Record<string, unknown> } } }).data.param.input;
}

describe('crun input styles', () => {
  it('maps one request to either shape', () => {
    const req = request({ width: 1536, height: 1024, references: [], outputFormat: 'jpeg', safetyTolerance: 0 });
    expect(CRUN_INPUT_SHAPES.img_urls.build(req, ['https://x/a.png'])).toEqual({ prompt: req.prompt, aspect_ratio: '3:2', resolution: '1K', img_urls: ['https://x/a.png'], output_format: 'jpeg' });
    expect(CRUN_INPUT_SHAPES.input_images.build(req, ['https://x/a.png'])).toEqual({
      prompt: req.prompt,
      aspect_ratio: '3:2',
      resolution: '2 MP',
      input_images: ['https://x/a.png'],
      output_format: 'jpg',
      safety_tolerance: 1,
    });
    expect(CRUN_INPUT_SHAPES.input_images.build(request({ width: undefined, height: undefined }), ['https://x/a.png'])).toMatchObject({ aspect_ratio: 'match_input_image', resolution: 'match_input_image' });
  });

  for (const style of STYLES) {
    it(`${style}: an emulator enforcing it takes the reference, and echoes it`, async () => {
      const emu = emus.get(style)!;
      const p = crun(emu, style);
      const task = await p.submit(request({ references: [fx.urlRef()], width: 1024, height: 1024 }), { signal: signal() });
      const image = await p.wait(task, { signal: signal() });
      expect((await sharp(image.bytes).metadata()).width).toBe(1024);
      expect(await echoedInput(emu, task.taskId)).toMatchObject({ [CRUN_INPUT_SHAPES[style].referenceField]: [fx.url] });
    });

  }

  it('img_urls sent to a crun that keeps input_images: the dropped reference fails the item, naming the fix', async () => {
    const p = crun(emus.get('input_images')!, 'img_urls');
    // No size: nothing else in the request tells the shapes apart, so crun accepts it without the reference.
    const task = await p.submit(request({ references: [fx.urlRef()], width: undefined, height: undefined }), { signal: signal() });
    const e = (await caught(p.wait(task, { signal: signal() }))) as EngineError;
    expect(e.code).toBe('provider_rejected');
    expect(e.message).toMatch(/without its reference images.*"img_urls".*CRUN_INPUT_STYLE=input_images/);
  });

  it('input_images sent to a crun that keeps img_urls is refused before a task exists', async () => {
    const emu = emus.get('img_urls')!;
    const before = emu.stats().submissions.crun;
    const e = (await caught(crun(emu, 'input_images').submit(request({ references: [fx.urlRef()], width: undefined, height: undefined }), { signal: signal() }))) as EngineError;
    expect(e.message).toMatch(/aspect_ratio/);
    expect(emu.stats().submissions.crun).toBe(before);
  });

  it('the emulator refuses values outside the megapixel shape', async () => {
    const emu = emus.get('input_images')!;
    const send = (input: Record<string, unknown>) =>
      fetch(`${emu.baseUrl}/api/v1/client/job/CreateTask`, { method: 'POST', headers: { 'x-api-key': 'k', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'flux-2-flex', input: { prompt: 'a cat', ...input } }) }).then(
        (r) => r.json() as Promise<{ code: number; message: string }>,
      );
    expect(await send({ resolution: '1K' })).toMatchObject({ code: 422, message: expect.stringMatching(/resolution must be one of 0.5 MP/) });
    expect(await send({ output_format: 'jpeg' })).toMatchObject({ code: 422, message: expect.stringMatching(/output_format/) });
    expect(await send({ safety_tolerance: 6 })).toMatchObject({ code: 422 });
    expect(await send({ aspect_ratio: 'match_input_image' })).toMatchObject({ code: 422, message: expect.stringMatching(/needs input.input_images/) });
    expect(await send({ resolution: '2 MP', aspect_ratio: '16:9' })).toMatchObject({ code: 200 });
  });
});
