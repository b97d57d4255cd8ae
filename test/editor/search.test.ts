import { describe, expect, it } from 'vitest';
import { rankSearch, searchScore } from '../../editor/flow/search';
import { descriptors } from './catalog';

const titles = (q: string) => rankSearch(descriptors, q).map((d) => d.title);

describe('palette search', () => {
  it('ranks a whole-word title match above a title that merely starts with the query', () => {
    const found = titles('pro');
    expect(found[0]).toBe('FLUX.2 [pro] generate');
    expect(found.indexOf('FLUX.2 [pro] generate')).toBeLessThan(found.indexOf('Prompt'));
  });

  it('ranks title matches above description-only matches', () => {
    const found = rankSearch(descriptors, 'prompt');
    expect(found[0].type).toBe('prompt');
  });

  it('needs every word of the query to match somewhere', () => {
    expect(titles('flux max')).toEqual(['FLUX.2 [max] refine']);
    expect(titles('zzz')).toEqual([]);
    expect(searchScore(descriptors[0], '')).toBeGreaterThan(0);
  });

  it('keeps the catalog order for an empty query', () => {
    expect(rankSearch(descriptors, '  ').map((d) => d.type)).toEqual(descriptors.map((d) => d.type));
  });
});
