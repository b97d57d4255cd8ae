/**
 * Submits cut off on the wire (a kill, a crash, a timeout without an answer): the provider may
 * or may not have accepted and charged them. A resume never sends them again on its own; it
 * names them, and `--resubmit-ambiguous` sends exactly those again, with the run's own seeds,
 * once the user has seen how many and the worst case.
 */
import { createInterface } from 'node:readline/promises';
import { formatUsd, toMicros } from '../core/money';
import type { ImageRequest } from '../core/provider';
import { priceOf } from '../providers/pricing';
import type { Ledger, TaskRow } from '../store/ledger';
import { EXIT, fail } from './exit';

/** The pricing table's figure for a recorded request (what an unconfirmed submit may have cost). */
export function worstCaseMicros(t: TaskRow): number {
  if (t.expectedMicros !== null) return t.expectedMicros;
  try {
    const request = JSON.parse(t.requestJson) as ImageRequest & { referenceHashes?: string[] };
    const references = (request.referenceHashes ?? []).map(() => ({ asset: { hash: '', mime: 'image/png', width: 1024, height: 1024 } }));
    return toMicros(priceOf(t.provider, { ...request, references } as ImageRequest));
  } catch {
    return 0;
  }
}

export function describeSubmit(t: TaskRow): string {
  const at = new Date(t.createdAt).toISOString().replace('T', ' ').slice(0, 19);
  return `node "${t.nodeId}" item ${t.item}: ${t.provider}${t.account && t.account !== 'default' ? ` (${t.account})` : ''} ${t.model}, sent ${at} UTC, up to ${formatUsd(worstCaseMicros(t), true)}`;
}

/** The lines after a summary naming the run's ambiguous submits and the ways out. */
export function formatAmbiguous(runId: string, rows: readonly TaskRow[], again = `fluxgraph run --resume ${runId} --resubmit-ambiguous`): string {
  if (!rows.length) return '';
  const worst = rows.reduce((sum, t) => sum + worstCaseMicros(t), 0);
  return [
    '',
    `${rows.length} submit${rows.length === 1 ? ' was' : 's were'} cut off on the wire and may or may not have been paid (up to ${formatUsd(worst, true)}); not sent again:`,
    ...rows.map((t) => `  ? ${describeSubmit(t)}`),
    `Look them up on the provider's dashboard (fluxgraph runs show ${runId}); to send them again: ${again}`,
  ].join('\n');
}

/**
 * Before `--resubmit-ambiguous`: prints how many and the worst case, then asks y/N on a terminal;
 * without one, `--yes` is required. True to go ahead, false when there is nothing to resubmit,
 * or the exit code.
 */
export async function confirmResubmit(ledger: Ledger, runId: string, yes: boolean, budgetUsd: number | undefined): Promise<boolean | number> {
  const rows = ledger.ambiguousOf(runId);
  if (!rows.length) {
    process.stderr.write(`Run ${runId} has no ambiguous submits; resuming it as usual.\n`);
    return false;
  }
  const worst = rows.reduce((sum, t) => sum + worstCaseMicros(t), 0);
  process.stderr.write(
    `Sending ${rows.length} ambiguous submit${rows.length === 1 ? '' : 's'} of run ${runId} again, with the run's own seeds. If the first attempt${rows.length === 1 ? ' was' : 's were'} charged, this pays again: up to ${formatUsd(worst, true)}.\n${rows.map((t) => `  ? ${describeSubmit(t)}\n`).join('')}`,
  );
  if (budgetUsd !== undefined && worst > toMicros(budgetUsd)) {
    return fail(`--budget ${budgetUsd}: sending the ambiguous submits again may cost up to ${formatUsd(worst, true)}, over the budget of ${formatUsd(toMicros(budgetUsd))}; nothing was sent`);
  }
  if (yes) return true;
  if (!process.stdin.isTTY) return fail(`--resubmit-ambiguous may pay up to ${formatUsd(worst, true)} a second time: confirm with --yes (no terminal to ask on)`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question('Send them again? [y/N] ')).trim().toLowerCase();
    if (answer === 'y' || answer === 'yes') return true;
    process.stderr.write('Nothing was sent.\n');
    return EXIT.failed;
  } finally {
    rl.close();
  }
}
