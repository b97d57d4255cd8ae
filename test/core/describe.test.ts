import { describe, expect, it } from 'vitest';
import { describeNode } from '../../engine/core/describe';
import { fluxFlexGenerate } from '../../nodes/flux-flex-generate';
import { pickImages } from '../../nodes/pick-images';
import type { AnyNodeDefinition } from '../../engine/core/define-node';

describe('describeNode', () => {
  it('derives handles and form fields with ranges and defaults from the declaration', () => {
    const d = describeNode(fluxFlexGenerate as unknown as AnyNodeDefinition);
    expect(d.inputs).toEqual([
      { name: 'prompt', kind: 'text', required: true, description: expect.stringMatching(/from a prompt list, the node runs once per prompt/) },
      { name: 'references', kind: 'image', multiple: true, max: 8, description: expect.stringMatching(/all sent in one call; an image folder as the only edge iterates/) },
    ]);
    expect(d.outputs).toEqual([{ name: 'images', kind: 'image', list: true }]);
    const steps = d.params.find((p) => p.name === 'steps');
    expect(steps).toMatchObject({ type: 'integer', minimum: 1, maximum: 50, default: 50, required: false });
    expect(d.params.find((p) => p.name === 'width')).toMatchObject({ multipleOf: 16, default: 1024 });
    expect(d.params.find((p) => p.name === 'outputFormat')).toMatchObject({ type: 'enum', enum: ['jpeg', 'png', 'webp'] });
    expect(d.params.find((p) => p.name === 'provider')).toMatchObject({ type: 'enum', enum: ['bfl', 'kie', 'novita', 'crun'], required: false });
    expect(d.usesProvider).toBe(true);
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
  });

  it('describes a list param as a list of integers', () => {
    const d = describeNode(pickImages as unknown as AnyNodeDefinition);
    expect(d.params.find((p) => p.name === 'indices')).toMatchObject({ type: 'integer-list' });
    expect(d.params.find((p) => p.name === 'all')).toMatchObject({ type: 'boolean' });
    expect(d.eachItemOf).toBe('images');
  });
});
