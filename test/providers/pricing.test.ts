import { describe, expect, it } from 'vitest';
import { priceOf } from '../../engine/providers/pricing';

const ref = (width: number, height: number) => ({ asset: { width, height } });

describe('pricing', () => {
  it.each([
    ['flex 1 MP text-to-image', 'bfl', 'flex', 1024, 1024, [], 0.05],
    ['flex 1 MP with one 1 MP reference', 'bfl', 'flex', 1024, 1024, [ref(1024, 1024)], 0.1],
    ['max 1 MP with one reference', 'bfl', 'max', 1024, 1024, [ref(1024, 1024)], 0.1],
    ['max at 256×256: the first MP is a floor', 'bfl', 'max', 256, 256, [], 0.07],
    ['pro at 1.98 MP: extra MP round up', 'bfl', 'pro', 1440, 1440, [], 0.045],
    ['flex 2048×2048 (4 MP)', 'bfl', 'flex', 2048, 2048, [], 0.2],
    ['kie flex 1K', 'kie', 'flex', 1024, 1024, [], 0.07],
    ['kie flex 2K', 'kie', 'flex', 2048, 2048, [], 0.12],
  ] as const)('%s', (_n, provider, model, width, height, references, usd) => {
    expect(priceOf(provider, { model, width, height, references: [...references] })).toBeCloseTo(usd, 6);
  });

  it('has no price for a model a provider does not sell', () => {
    expect(priceOf('kie', { model: 'max', width: 1024, height: 1024, references: [] })).toBeUndefined();
    expect(priceOf('nobody', { model: 'flex', width: 1024, height: 1024, references: [] })).toBeUndefined();
  });
});
