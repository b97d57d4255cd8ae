import { randomBytes } from 'node:crypto';

/** A sortable, unique run id: UTC timestamp plus random hex (`20260101-120000-a1b2c3`). */
export function newRunId(): string {
  const d = new Date();
  const stamp = d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}
