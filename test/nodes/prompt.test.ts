import { describe, expect, it } from 'vitest';
import { promptNode } from '../../nodes/prompt';
import { nodeContext } from '../helpers/node-context';

describe('prompt', () => {
  it('fills {name} placeholders from the variables', async () => {
    const out = await promptNode.run({ inputs: {}, params: { text: 'a {animal} in {place}' }, ctx: nodeContext({ variables: { animal: 'fox', place: 'snow' } }) });
    expect(out).toEqual({ text: 'a fox in snow' });
  });

  it('fails with the missing placeholder named rather than sending it literally', async () => {
    await expect(promptNode.run({ inputs: {}, params: { text: 'a {animal}' }, ctx: nodeContext() })).rejects.toMatchObject({ code: 'unfilled_placeholder', details: { param: 'text' } });
  });
});
