/** A batch's images in the gallery: ordered by row (from 1), one heading per row. */

/** Orders images of a batch by their row; images without a row keep their place (0). */
export function byRow(a: { row?: number }, b: { row?: number }): number {
  return (a.row ?? 0) - (b.row ?? 0);
}

/** Runs of consecutive images with the same row, as [start, end) ranges; `row` undefined outside a batch. */
export function rowGroups(images: readonly { row?: number }[]): { row: number | undefined; start: number; end: number }[] {
  const groups: { row: number | undefined; start: number; end: number }[] = [];
  images.forEach((img, i) => {
    const last = groups.at(-1);
    if (last && last.row === img.row) last.end = i + 1;
    else groups.push({ row: img.row, start: i, end: i + 1 });
  });
  return groups;
}
