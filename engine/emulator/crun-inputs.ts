/**
 * crun.ai's FLUX.2 `input` fields are not published (providers.md 4.1, 9 [U]). Two shapes are
 * plausible, and the emulator enforces either one (`crunInputStyle`):
 * - `img_urls`: crun's other image models: `prompt`, `aspect_ratio`, `resolution` "1K"/"2K",
 *   `img_urls`, `output_format`, `seed` (+ `steps`, `guidance` on flex);
 * - `input_images`: the schema of the host whose FLUX.2 flex page crun's text copies word for word:
 *   `prompt`, `input_images`, `aspect_ratio` (+ `match_input_image`), `resolution` in megapixels
 *   ("0.5 MP" ... "4 MP", `match_input_image`), `output_format` webp|jpg|png, `safety_tolerance`
 *   1-5, `seed` (+ `steps`, `guidance` on flex).
 * Like a schema-validating API, fields of the other shape are dropped, not refused: what crun keeps
 * is what TaskInfo echoes in `param.input`, so a client can see a reference that was ignored.
 */
import { isHttpUrl } from './inputs';
import { isPlainObject } from './http';
import { ASPECT_RATIOS, RESOLUTIONS, type Size } from './sizes';
import type { ImageFormat } from './types';

export type CrunInputStyle = 'img_urls' | 'input_images';

export interface CrunParsedInput {
  prompt: string;
  imageUrls: string[];
  format: ImageFormat;
  seed?: number;
  /** crun credits tier. */
  tier: '1K' | '2K';
  size(input?: Size): Size;
  /** The fields crun kept: echoed as `param.input`. */
  kept: Record<string, unknown>;
}

const IMG_FORMATS: Record<string, ImageFormat> = { png: 'png', jpeg: 'jpeg', jpg: 'jpeg', webp: 'webp' };
const MP_FORMATS: Record<string, ImageFormat> = { webp: 'webp', jpg: 'jpeg', png: 'png' };
const MEGAPIXELS: Record<string, number> = { '0.5 MP': 0.5, '1 MP': 1, '2 MP': 2, '4 MP': 4 };
const RATIOS = ASPECT_RATIOS.filter((r) => r !== 'auto');

const COMMON = ['prompt', 'seed', 'steps', 'guidance'];
const FIELDS: Record<CrunInputStyle, string[]> = {
  img_urls: [...COMMON, 'aspect_ratio', 'resolution', 'img_urls', 'output_format'],
  input_images: [...COMMON, 'aspect_ratio', 'resolution', 'input_images', 'output_format', 'safety_tolerance'],
};

function inRange(v: unknown, min: number, max: number, integer: boolean): boolean {
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max && (!integer || Number.isInteger(v));
}

function round16(n: number): number {
  return Math.max(16, Math.round(n / 16) * 16);
}

function ratioOf(aspect: string): number {
  const [a, b] = aspect.split(':').map(Number);
  return a / b;
}

/** Sizes of `ratio` holding about `mp` megapixels. */
function megapixelSize(ratio: number, mp: number): Size {
  const area = mp * 1024 * 1024;
  return { width: round16(Math.sqrt(area * ratio)), height: round16(Math.sqrt(area / ratio)) };
}

function urls(v: unknown, field: string): string[] | string {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > 8 || !v.every((u) => typeof u === 'string' && isHttpUrl(u))) return `input.${field} must be an array of at most 8 http(s) URLs`;
  return v as string[];
}

export function parseCrunInput(input: unknown, model: string, style: CrunInputStyle): { ok: true; value: CrunParsedInput } | { ok: false; message: string } {
  const fail = (message: string) => ({ ok: false as const, message });
  if (!isPlainObject(input)) return fail('input is required');
  const kept = Object.fromEntries(Object.entries(input).filter(([k]) => FIELDS[style].includes(k)));
  const { prompt, seed, steps, guidance } = kept;
  if (typeof prompt !== 'string' || prompt.trim() === '' || prompt.length > 5000) return fail('input.prompt is required (1 to 5000 characters)');
  if (seed !== undefined && seed !== null && !inRange(seed, 0, 2 ** 32 - 1, true)) return fail('input.seed must be a non-negative integer');
  if (model === 'flux-2-flex') {
    if (steps !== undefined && !inRange(steps, 1, 50, true)) return fail('input.steps must be an integer between 1 and 50');
    if (guidance !== undefined && !inRange(guidance, 1.5, 10, false)) return fail('input.guidance must be between 1.5 and 10');
  }
  const seedValue = (seed as number | null | undefined) ?? undefined;

  if (style === 'img_urls') {
    const { aspect_ratio = '1:1', resolution = '1K', output_format = 'png' } = kept;
    if (typeof aspect_ratio !== 'string' || !(ASPECT_RATIOS as readonly string[]).includes(aspect_ratio)) return fail(`input.aspect_ratio must be one of ${ASPECT_RATIOS.join(', ')}`);
    if (typeof resolution !== 'string' || !(RESOLUTIONS as readonly string[]).includes(resolution)) return fail(`input.resolution must be one of ${RESOLUTIONS.join(', ')}`);
    if (typeof output_format !== 'string' || !IMG_FORMATS[output_format]) return fail(`input.output_format must be one of ${Object.keys(IMG_FORMATS).join(', ')}`);
    const list = urls(kept.img_urls, 'img_urls');
    if (typeof list === 'string') return fail(list);
    if (aspect_ratio === 'auto' && list.length === 0) return fail('input.aspect_ratio auto needs input.img_urls');
    const base = resolution === '2K' ? 2048 : 1024;
    return {
      ok: true,
      value: {
        prompt,
        imageUrls: list,
        format: IMG_FORMATS[output_format],
        ...(seedValue !== undefined ? { seed: seedValue } : {}),
        tier: resolution as '1K' | '2K',
        size: (first) => {
          const ratio = aspect_ratio === 'auto' && first ? first.width / first.height : aspect_ratio === 'auto' ? 1 : ratioOf(aspect_ratio);
          return { width: round16(base * Math.sqrt(ratio)), height: round16(base / Math.sqrt(ratio)) };
        },
        kept,
      },
    };
  }

  const { aspect_ratio = '1:1', resolution = '1 MP', output_format = 'webp', safety_tolerance } = kept;
  const aspects = [...RATIOS, 'match_input_image'];
  if (typeof aspect_ratio !== 'string' || !aspects.includes(aspect_ratio)) return fail(`input.aspect_ratio must be one of ${aspects.join(', ')}`);
  const resolutions = [...Object.keys(MEGAPIXELS), 'match_input_image'];
  if (typeof resolution !== 'string' || !resolutions.includes(resolution)) return fail(`input.resolution must be one of ${resolutions.join(', ')}`);
  if (typeof output_format !== 'string' || !MP_FORMATS[output_format]) return fail(`input.output_format must be one of ${Object.keys(MP_FORMATS).join(', ')}`);
  if (safety_tolerance !== undefined && !inRange(safety_tolerance, 1, 5, true)) return fail('input.safety_tolerance must be an integer between 1 and 5');
  const list = urls(kept.input_images, 'input_images');
  if (typeof list === 'string') return fail(list);
  if ((aspect_ratio === 'match_input_image' || resolution === 'match_input_image') && list.length === 0) return fail('match_input_image needs input.input_images');
  const mp = MEGAPIXELS[resolution];
  return {
    ok: true,
    value: {
      prompt,
      imageUrls: list,
      format: MP_FORMATS[output_format],
      ...(seedValue !== undefined ? { seed: seedValue } : {}),
      tier: mp !== undefined && mp > 1 ? '2K' : '1K',
      size: (first) => {
        const ratio = aspect_ratio === 'match_input_image' ? (first ? first.width / first.height : 1) : ratioOf(aspect_ratio);
        const area = mp ?? (first ? Math.min(4, (first.width * first.height) / (1024 * 1024)) : 1);
        return megapixelSize(ratio, area);
      },
      kept,
    },
  };
}
