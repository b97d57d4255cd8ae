import { describe, expect, it } from 'vitest';
import { connectCandidates } from '../../editor/flow/connect-candidates';
import { catalog } from './catalog';

const types: Record<string, string> = { idea: 'prompt', drafts: 'flux-flex-generate', save: 'save-image' };
const typeOf = (id: string) => types[id];

describe('node types offered when a connection is dropped on empty canvas', () => {
  it('from a text output: the nodes with a text input, each with the port it connects to', () => {
    const found = connectCandidates({ nodeId: 'idea', id: 'text', type: 'source' }, catalog, typeOf);
    expect(found.map((c) => c.type).sort()).toEqual(['flux-flex-generate', 'flux-max-refine', 'flux-pro-generate']);
    expect(found.find((c) => c.type === 'flux-flex-generate')!.port).toBe('prompt');
  });

  it('from an image-list output: only inputs that take several images', () => {
    const found = connectCandidates({ nodeId: 'drafts', id: 'images', type: 'source' }, catalog, typeOf);
    expect(found.map((c) => c.type)).toEqual(expect.arrayContaining(['save-image', 'pick-images']));
    expect(found.map((c) => c.type)).not.toContain('prompt');
  });

  it('from an input: the nodes whose output can feed it', () => {
    const found = connectCandidates({ nodeId: 'drafts', id: 'prompt', type: 'target' }, catalog, typeOf);
    expect(found).toEqual([{ type: 'prompt', title: 'Prompt', port: 'text' }]);
  });
});
