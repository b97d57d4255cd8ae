/**
 * What a request is expected to cost, per provider and model, before it is sent: used by
 * `fluxgraph estimate`, by `--budget` (in-flight tasks count against it) and by the editor's
 * estimate before Run. Actual costs come from the providers' own reports when they give one.
 */
import type { ImageRequest, ModelId } from '../core/provider';

export interface PriceSource {
  provider: string;
  models: ModelId[];
  basis: string;
  /** When the figures were read, and where. */
  asOf: string;
  source: string;
  /** False when the figures are not the provider's own published prices. */
  confirmed: boolean;
}

/** BFL, USD: first output megapixel, each further started megapixel, each input megapixel. */
const BFL_RATES: Record<ModelId, { first: number; rate: number }> = {
  flex: { first: 0.05, rate: 0.05 },
  max: { first: 0.07, rate: 0.03 },
  pro: { first: 0.03, rate: 0.015 },
};

/** kie.ai credits per image by resolution tier; 1 credit ≈ $0.005. */
const KIE_CREDITS: Partial<Record<ModelId, { '1K': number; '2K': number }>> = { flex: { '1K': 14, '2K': 24 }, pro: { '1K': 5, '2K': 7 } };
const KIE_USD_PER_CREDIT = 0.005;

export const PRICE_SOURCES: PriceSource[] = [
  {
    provider: 'bfl',
    models: ['max', 'pro'],
    basis: 'first output MP + each further started MP + input MP (total, rounded up) × rate; max $0.07/$0.03, pro $0.03/$0.015',
    asOf: '2026-01',
    source: 'docs.bfl.ai pricing and the BFL skills repository (providers.md 1.10)',
    confirmed: true,
  },
  {
    // The sources disagree (providers.md 9): the submit's `cost` field is what a BFL run records.
    provider: 'bfl',
    models: ['flex'],
    basis: 'as max/pro, $0.05 first MP and $0.05 each further or input MP',
    asOf: '2026-01',
    source:
      'BFL skills repository: 5 cents per MP (changed from 6 in one commit, 2026-01-28); several resellers citing bfl.ai/pricing: 6 cents. Unconfirmed; the estimate uses 5',
    confirmed: false,
  },
  {
    provider: 'kie',
    models: ['flex', 'pro'],
    basis: 'per image: flex 14 credits (1K) / 24 (2K), pro 5 / 7; 1 credit ≈ $0.005',
    asOf: '2026-02',
    source: 'third-party client code (providers.md 2.6); not published by kie.ai',
    confirmed: false,
  },
  {
    provider: 'novita',
    models: ['flex'],
    basis: 'no published FLUX.2 price found; estimated at the BFL list price',
    asOf: '2026-11',
    source: 'assumption (providers.md has none)',
    confirmed: false,
  },
  {
    provider: 'crun',
    models: ['flex', 'max'],
    basis: 'no published FLUX.2 price found; estimated at the BFL list price',
    asOf: '2026-11',
    source: 'assumption (providers.md has none)',
    confirmed: false,
  },
];

const mp = (w: number, h: number) => (w * h) / 2 ** 20;
const round2 = (n: number) => Math.round(n * 100) / 100;

function bflPrice(model: ModelId, width: number, height: number, references: { width: number; height: number }[]): number {
  const r = BFL_RATES[model];
  const outMp = round2(mp(width, height));
  const inMp = round2(references.reduce((sum, i) => sum + mp(i.width, i.height), 0));
  return r.first + Math.ceil(Math.max(0, outMp - 1)) * r.rate + Math.ceil(inMp) * r.rate;
}

/** Expected USD of one request on one provider (sizes as sent, after mapping); undefined if unknown. */
export function priceOf(providerId: string, request: Pick<ImageRequest, 'model' | 'width' | 'height'> & { references: { asset: { width: number; height: number } }[] }): number | undefined {
  const width = request.width ?? 1024;
  const height = request.height ?? 1024;
  const refs = request.references.map((r) => r.asset);
  switch (providerId) {
    case 'kie': {
      const table = KIE_CREDITS[request.model];
      return table ? table[width * height > 2 * 1024 * 1024 ? '2K' : '1K'] * KIE_USD_PER_CREDIT : undefined;
    }
    case 'bfl':
    case 'novita':
    case 'crun':
      return BFL_RATES[request.model] ? Math.round(bflPrice(request.model, width, height, refs) * 1e6) / 1e6 : undefined;
    default:
      return undefined;
  }
}
