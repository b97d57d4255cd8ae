import { describe, expect, it } from 'vitest';
import { resolvePath } from '../../editor/flow/paths';

describe('resolving a reference path for the inspector', () => {
  it('resolves relative paths against the folder, as the server does', () => {
    expect(resolvePath('/work/examples', 'assets/still-life.png')).toBe('/work/examples/assets/still-life.png');
    expect(resolvePath('/work/examples', './a.png')).toBe('/work/examples/a.png');
    expect(resolvePath('/work/examples', '../b/c.png')).toBe('/work/b/c.png');
  });

  it('keeps absolute paths', () => {
    expect(resolvePath('/work', '/tmp/x.png')).toBe('/tmp/x.png');
    expect(resolvePath('C:\\work', 'D:\\x.png')).toBe('D:\\x.png');
    expect(resolvePath('C:\\work', 'a\\x.png')).toBe('C:\\work\\a\\x.png');
  });
});
