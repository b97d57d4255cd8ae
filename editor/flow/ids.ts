/** Readable, unique node ids for new and pasted nodes: "prompt-1", "flex-generate-2". */

const ID_CHARS = /^[A-Za-z0-9_.-]+$/;

export function isValidNodeId(id: string): boolean {
  return id.length > 0 && id.length <= 200 && ID_CHARS.test(id);
}

export function baseIdFor(type: string): string {
  const base = type.replace(/^flux-/, '').replace(/[^A-Za-z0-9_.-]+/g, '-');
  return base || 'node';
}

/** The first `${base}-${n}` not in `taken`; adds it to `taken`. */
export function nextNodeId(base: string, taken: Set<string>): string {
  const stem = base.replace(/-\d+$/, '');
  for (let n = 1; ; n++) {
    const id = `${stem}-${n}`;
    if (!taken.has(id)) {
      taken.add(id);
      return id;
    }
  }
}
