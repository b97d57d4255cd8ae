import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRows, RowError, scanRows } from '../../engine/batch/rows';
import { fillTemplate, parseRowRange, templateColumns } from '../../engine/core/rows';
import { tempDir } from '../helpers/tmp';

function file(name: string, text: string): string {
  const path = join(tempDir(), name);
  writeFileSync(path, text);
  return path;
}

async function all(path: string, o?: Parameters<typeof readRows>[1]) {
  const out = [];
  for await (const r of readRows(path, o)) out.push(r);
  return out;
}

describe('reading rows', () => {
  it.each([
    { case: 'CSV with a header', name: 'a.csv', text: 'product,style\nmug,flat\nlamp,noir\n', rows: [[2, { product: 'mug', style: 'flat' }], [3, { product: 'lamp', style: 'noir' }]] },
    { case: 'CSV quoted comma and doubled quote', name: 'a.csv', text: 'product,style\n"mug, blue","the ""best"""\n', rows: [[2, { product: 'mug, blue', style: 'the "best"' }]] },
    { case: 'CSV newline inside a quoted field', name: 'a.csv', text: 'product,style\n"two\nlines",x\nlamp,y\n', rows: [[2, { product: 'two\nlines', style: 'x' }], [4, { product: 'lamp', style: 'y' }]] },
    { case: 'CSV with a BOM and CRLF', name: 'a.csv', text: '\uFEFFproduct,style\r\nmug,flat\r\n', rows: [[2, { product: 'mug', style: 'flat' }]] },
    { case: 'CSV empty lines and ",," lines skipped', name: 'a.csv', text: 'product,style\n\nmug,flat\n,\n\nlamp,noir', rows: [[3, { product: 'mug', style: 'flat' }], [6, { product: 'lamp', style: 'noir' }]] },
    { case: 'JSONL objects, numbers as text', name: 'a.jsonl', text: '{"product":"mug","n":3}\n\n{"product":"lamp","n":null}\n', rows: [[1, { product: 'mug', n: '3' }], [3, { product: 'lamp', n: '' }]] },
    { case: 'JSONL with a BOM', name: 'a.jsonl', text: '\uFEFF{"product":"mug"}\n', rows: [[1, { product: 'mug' }]] },
    { case: 'text: blank lines and # comments skipped', name: 'a.txt', text: '# prompts\na red fox\n\n  # not this\nan owl  \n', rows: [[2, { text: 'a red fox' }], [5, { text: 'an owl' }]] },
  ])('$case', async ({ name, text, rows }) => {
    const got = await all(file(name, text));
    expect(got.map((r) => [r.line, r.fields])).toEqual(rows);
    expect(got.map((r) => r.n)).toEqual(rows.map((_, i) => i + 1));
    const scan = await scanRows(file(name, text));
    expect(scan.issues).toEqual([]);
    expect(scan.count).toBe(rows.length);
  });

  it.each([
    { case: 'CSV row with a missing column', name: 'a.csv', text: 'product,style\nmug,flat\nlamp\n', line: 3, message: /1 field, the header has 2 \(missing: style\)/ },
    { case: 'CSV row with an extra field', name: 'a.csv', text: 'product,style\nmug,flat,x\n', line: 2, message: /3 fields, the header has 2/ },
    { case: 'CSV bad quote', name: 'a.csv', text: 'product,style\nmug,flat\n"lamp"x,noir\n', line: 3, message: /malformed CSV/ },
    { case: 'JSONL bad escape', name: 'a.jsonl', text: '{"product":"mug"}\n{"product":"l\\qamp"}\n', line: 2, message: /malformed JSON/ },
    { case: 'JSONL line that is not an object', name: 'a.jsonl', text: '{"product":"mug"}\n\n[1,2]\n', line: 3, message: /expected a JSON object/ },
    { case: 'JSONL row missing a template column', name: 'a.jsonl', text: '{"product":"mug","style":"a"}\n{"product":"lamp"}\n', line: 2, message: /has no "style"/, require: ['product', 'style'] },
  ])('$case is reported with its line number', async ({ name, text, line, message, require }) => {
    const path = file(name, text);
    const scan = await scanRows(path, { ...(require ? { require } : {}) });
    expect(scan.issues).toHaveLength(1);
    expect(scan.issues[0].line).toBe(line);
    expect(scan.issues[0].message).toMatch(message);
    const err = await all(path, { ...(require ? { require } : {}) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RowError);
    expect((err as RowError).line).toBe(line);
  });

  it('reports every malformed record with its line, not only the first, and keeps the good rows between them', async () => {
    const text = ['product,style', '"two', 'lines",a', 'ab"c,b', 'ok,c', '"lamp"x,d', 'short', 'x,y,z', '"open,e', 'last,f'].join('\n');
    const scan = await scanRows(file('a.csv', text));
    expect(scan.issues.map((i) => [i.line, i.message.replace(/:.*/s, '')])).toEqual([
      [4, 'malformed CSV'],
      [6, 'malformed CSV'],
      [7, 'has 1 field, the header has 2 (missing'],
      [8, 'has 3 fields, the header has 2 (product, style); quote a field that contains a comma'],
      [9, 'malformed CSV'],
    ]);
    expect(scan.issues[4].message).toMatch(/Quote Not Closed/);
    // The good rows are counted, in their places: rows 1, 3 and 8 of 8.
    expect(scan.count).toBe(3);
    expect(scan.preview.map((r) => [r.n, r.line, r.fields.product])).toEqual([[1, 2, 'two\nlines'], [3, 5, 'ok'], [8, 10, 'last']]);
  });

  it('a file with many broken rows lists the first 20 and counts the rest, in a JSONL file too', async () => {
    const good = '{"product":"mug"}';
    const text = [good, ...Array.from({ length: 25 }, (_, i) => `{"product": "broken ${i}"`), good].join('\n');
    const scan = await scanRows(file('a.jsonl', text));
    expect(scan.issues).toHaveLength(21);
    expect(scan.issues.slice(0, 20).map((i) => i.line)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    expect(scan.issues[20].message).toBe('and 5 more malformed rows after line 21 (the first 20 are listed)');
  });

  it('a slice keeps data rows from..to, 1-based and inclusive', async () => {
    const path = file('a.csv', 'p\n' + Array.from({ length: 30 }, (_, i) => `row${i + 1}`).join('\n'));
    const got = await all(path, { from: 10, to: 12 });
    expect(got.map((r) => [r.n, r.fields.p, r.line])).toEqual([[10, 'row10', 11], [11, 'row11', 12], [12, 'row12', 13]]);
    expect((await scanRows(path, { from: 10, to: 12 })).count).toBe(3);
  });

  it('a missing file is one issue, not a crash', async () => {
    const scan = await scanRows(join(tempDir(), 'nope.csv'));
    expect(scan.issues[0].message).toMatch(/no such file/);
  });
});

describe('row templates and ranges', () => {
  it('fills columns, then variables, and leaves unknown names visible', () => {
    expect(templateColumns('{product}, on a white table, {style}')).toEqual(['product', 'style']);
    expect(fillTemplate('{product}, {style}, {mood}', { product: 'mug', style: 'flat' }, { mood: 'calm', style: 'no' })).toBe('mug, flat, calm');
    expect(fillTemplate('{what}', {})).toBe('{what}');
  });

  it.each([
    ['10-20', { from: 10, to: 20 }],
    ['5', { from: 5, to: 5 }],
    ['10-', { from: 10 }],
    ['0-3', undefined],
    ['7-3', undefined],
    ['a-b', undefined],
  ])('--rows %s', (text, range) => {
    expect(parseRowRange(text)).toEqual(range);
  });
});
