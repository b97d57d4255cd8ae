/** kie.ai takes prompts of 3 to 5,000 characters: a prompt outside that is refused before anything is spent. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKieProvider } from '../../engine/providers/kie';
import { cli } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';
import { caught, request } from '../providers/helpers';

function pipeline(text: string, provider: string) {
  return {
    version: 1,
    settings: { variables: { subject: 'x' } },
    nodes: [
      { id: 'idea', type: 'prompt', params: { text } },
      { id: 'drafts', type: 'flux-flex-generate', params: { width: 512, height: 512, provider } },
    ],
    edges: [{ source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' }],
  };
}

async function validate(doc: unknown) {
  const dir = tempDir();
  writeFileSync(join(dir, 'p.json'), JSON.stringify(doc));
  return cli(['validate', 'p.json'], { cwd: dir });
}

describe('kie prompt length', () => {
  it('validate refuses a prompt under 3 or over 5,000 characters on kie, placeholders filled, naming node and provider', async () => {
    const short = await validate(pipeline('{subject}y', 'kie'));
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/node "drafts".*provider "kie" takes prompts of 3 to 5,000 characters, and the prompt from "idea" has 2 \[invalid_param\]/);
    const long = await validate(pipeline('a'.repeat(5001), 'kie'));
    expect(long.code).toBe(2);
    expect(long.stderr).toMatch(/has 5001/);
  });

  it('the same prompts are fine on providers without that limit, and 3 characters are fine on kie', async () => {
    expect((await validate(pipeline('ab', 'bfl'))).code).toBe(0);
    expect((await validate(pipeline('abc', 'kie'))).code).toBe(0);
  });

  it('the adapter refuses it too, before sending anything', async () => {
    const p = createKieProvider({ apiKey: 'k', baseUrl: 'http://127.0.0.1:9' });
    const e = (await caught(p.submit(request({ model: 'flex', prompt: 'ab' }), { signal: new AbortController().signal }))) as { code: string; message: string };
    expect(e.code).toBe('invalid_param');
    expect(e.message).toMatch(/3 to 5,000 characters; this one has 2/);
  });
});
