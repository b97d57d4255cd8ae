/** File names and sidecars of images made in a batch: {row}, {field:NAME} and the row-{row}/ folder. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { RowTag } from '../../engine/core/rows';
import { fileName, saveImage, templateProblem } from '../../nodes/save-image';
import { nodeContext } from '../helpers/node-context';

const row: RowTag = { n: 7, fields: { product: 'Mug, blue / large', sku: '../etc' }, of: { list: 7 }, local: 2 };
const values = { run: 'r1', node: 'save', index: '2', seed: '42', source: 'drafts', row: '7' };

describe('save-image in a batch', () => {
  it.each([
    ['{run}/{row}-{index}', '{run}/{row}-{index}', 'r1/7-2'],
    ['{run}/{node}-{index}', 'no {row}: under row-{row}/ in the run folder', 'r1/row-7/save-2'],
    ['final-{index}', 'no {row} and no {run}: under row-{row}/', 'row-7/final-2'],
    ['{run}/{field:product}-{row}-{index}', 'a field, sanitised', 'r1/Mug_blue_large-7-2'],
    ['{run}/{field:sku}/{row}-{index}', 'a field cannot climb out with dots', 'r1/__etc/7-2'],
    ['{run}/{field:colour}-{row}-{index}', 'a field the row lacks', 'r1/_-7-2'],
  ])('%s (%s) → %s', (template, _why, name) => {
    expect(templateProblem(template)).toBeUndefined();
    expect(fileName(template, values, row)).toBe(name);
  });

  it('outside a batch a template is used as written', () => {
    expect(fileName('{run}/{node}-{index}', values)).toBe('r1/save-2');
  });

  it('the sidecar records the row (number and fields) beside the seed', async () => {
    const ctx = nodeContext({ nodeId: 'save', inputItem: 2, row });
    const bytes = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#0a0' } }).png().toBuffer();
    const image = { hash: await ctx.store.put(bytes), mime: 'image/png' as const, width: 16, height: 16, meta: { nodeId: 'drafts', seed: 1002 } };
    await saveImage.run({ inputs: { images: [image] }, params: { template: '{run}/{field:product}-{index}' }, ctx });
    const sidecar = JSON.parse(readFileSync(join(ctx.outDir, 'run1', 'row-7', 'Mug_blue_large-2.json'), 'utf8'));
    expect(sidecar).toMatchObject({ row: { n: 7, fields: row.fields }, seed: 1002, item: 2 });
  });
});
