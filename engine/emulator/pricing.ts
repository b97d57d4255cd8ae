/** What each emulated task costs, in the provider's own credits (providers.md 1.10, 2.6). */

/** Megapixels as BFL reports them: 2^20 pixels, 2 decimals (256×256 → 0.06). */
export function megapixels(width: number, height: number): number {
  return (width * height) / 2 ** 20;
}

export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

const BFL_RATES_USD: Record<string, { first: number; rate: number }> = {
  flex: { first: 0.05, rate: 0.05 },
  max: { first: 0.07, rate: 0.03 },
  pro: { first: 0.03, rate: 0.015 },
};

/** The price fields of a BFL submit response. */
export interface BflCost {
  /** Credits (1 credit = $0.01); float noise kept, as the real API shows it (7.000000000000001). */
  cost: number;
  input_mp: number;
  output_mp: number;
}

/**
 * `first + ceil(outMP − 1)·rate + ceil(inMP)·rate`: the first output MP is a floor and extra MP
 * round up (pro at 1.98 MP costs 4.5; max at 0.06 MP costs 7). How input MP round is [U]; we round
 * the total up to whole MP, which matches "1 MP + 1 ref" in the price table.
 */
export function bflCost(model: string, output: { width: number; height: number }, inputs: { width: number; height: number }[]): BflCost {
  const r = BFL_RATES_USD[model] ?? BFL_RATES_USD.flex;
  const outMp = round2(megapixels(output.width, output.height));
  const inMp = round2(inputs.reduce((sum, i) => sum + megapixels(i.width, i.height), 0));
  const extra = Math.ceil(Math.max(0, outMp - 1));
  const usd = r.first + extra * r.rate + Math.ceil(inMp) * r.rate;
  return { cost: usd * 100, input_mp: inMp, output_mp: outMp };
}

/** kie.ai credits per image (providers.md 2.6, third-party figures [U]). */
export function kieCredits(model: string, resolution: string): number {
  const pro = model.startsWith('flux-2/pro');
  if (resolution === '2K') return pro ? 7 : 24;
  return pro ? 5 : 14;
}

/** crun.ai credits per image: not published; an invented table of the same shape [I]. */
export function crunCredits(model: string, resolution: string): number {
  const max = model === 'flux-2-max';
  if (resolution === '2K') return max ? 28 : 20;
  return max ? 16 : 12;
}
