/**
 * File and folder names fluxgraph writes must be safe on every system a pipeline may travel to:
 * no way out of the output folder, no bytes a file system refuses, nothing Windows reserves.
 */

/** Longest name (bytes) of one path segment; most file systems stop at 255, and "-N.webp" is added. */
export const MAX_NAME_BYTES = 200;

const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)$/i;

/** Why `name` (one path segment) is unsafe as a file or folder name, or undefined when it is safe. */
export function unsafeNameReason(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name === '.' || name === '..') return `"${name}" would point outside its folder`;
  // eslint-disable-next-line no-control-regex
  const control = /[\u0000-\u001f\u007f]/.exec(name);
  if (control) return `contains the control character U+${control[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}${control[0] === '\u0000' ? ' (NUL)' : ''}`;
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES) return `is ${bytes} bytes long; names may have at most ${MAX_NAME_BYTES}`;
  const base = name.split('.')[0];
  if (RESERVED.test(base)) return `"${base}" is a reserved device name on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9)`;
  if (/[. ]$/.test(name)) return 'ends with a dot or a space, which Windows drops';
  return undefined;
}
