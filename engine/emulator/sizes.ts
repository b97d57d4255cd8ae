/** Output sizes: how each provider turns its size fields into pixels. */

export const DEFAULT_SIDE = 1024;
const MAX_PIXELS = 4 * 2 ** 20;
const MIN_SIDE = 64;

/** Pixel dimensions. */
export interface Size {
  width: number;
  height: number;
}

function floor16(n: number): number {
  return Math.max(16, Math.floor(n / 16) * 16);
}

function round16(n: number): number {
  return Math.max(16, Math.round(n / 16) * 16);
}

/**
 * BFL: 0/absent → 1024² (or the first input's size for edits); sides rounded down to multiples
 * of 16; above 4 MP scaled down, keeping the aspect ratio (the help article's "auto-resized" [U]).
 */
export function bflSize(width: number | undefined, height: number | undefined, input?: Size): Size {
  let w = width || 0;
  let h = height || 0;
  if (!w && !h) {
    w = input?.width ?? DEFAULT_SIDE;
    h = input?.height ?? DEFAULT_SIDE;
  } else if (!w) {
    w = input ? Math.round((h * input.width) / input.height) : h;
  } else if (!h) {
    h = input ? Math.round((w * input.height) / input.width) : w;
  }
  if (w * h > MAX_PIXELS) {
    const k = Math.sqrt(MAX_PIXELS / (w * h));
    w *= k;
    h *= k;
  }
  return { width: Math.max(MIN_SIDE, floor16(w)), height: Math.max(MIN_SIDE, floor16(h)) };
}

export const ASPECT_RATIOS = ['1:1', '4:3', '3:4', '16:9', '9:16', '3:2', '2:3', 'auto'] as const;
export const RESOLUTIONS = ['1K', '2K'] as const;

/** kie/crun: aspect ratio × resolution (1K ≈ 1 MP, 2K ≈ 4 MP); `auto` follows the first input. */
export function aspectSize(aspect: string, resolution: string, input?: Size): Size {
  const base = resolution === '2K' ? 2048 : 1024;
  let ratio = 1;
  if (aspect === 'auto' && input) ratio = input.width / input.height;
  else if (aspect !== 'auto') {
    const [a, b] = aspect.split(':').map(Number);
    ratio = a / b;
  }
  return { width: round16(base * Math.sqrt(ratio)), height: round16(base / Math.sqrt(ratio)) };
}

/** novita `size` "W*H"; null when malformed. */
export function parseStarSize(size: string): Size | null {
  const m = /^\s*(\d+)\s*\*\s*(\d+)\s*$/.exec(size);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : null;
}

/** Edits without an explicit size keep the input's aspect, capped to a provider range. */
export function fitWithin(input: Size, min: number, max: number): Size {
  let { width, height } = input;
  const k = Math.min(1, max / Math.max(width, height));
  width *= k;
  height *= k;
  const up = Math.max(1, min / Math.min(width, height));
  return { width: Math.min(max, Math.round(width * up)), height: Math.min(max, Math.round(height * up)) };
}
