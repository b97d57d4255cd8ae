/** `fluxgraph validate`: the pre-flight alone; prints the issues (or `--json`), starts no run. */
import { EXIT } from './exit';
import { withCliHost } from './cli-host';
import { parsePipelineArgs } from './pipeline-args';
import { preflight, printProviderNote } from './preflight';
import { printIssues } from './print';

export async function commandValidate(argv: string[]): Promise<number> {
  const args = parsePipelineArgs('validate', argv);
  if (typeof args === 'number') return args;
  return withCliHost(args, (cli) =>
    preflight(args, cli, async (pre) => {
      const { checked, shown, doc } = pre;
      if (args.values.json) process.stdout.write(JSON.stringify({ ok: checked.ok, issues: checked.issues }) + '\n');
      else {
        printIssues(checked.issues, shown);
        if (checked.ok) process.stdout.write(`${shown}: valid (${doc.nodes.length} nodes, ${doc.edges.length} edges)${checked.issues.length ? `, ${checked.issues.length} warning(s)` : ''}\n`);
      }
      printProviderNote(pre);
      return checked.ok ? EXIT.ok : EXIT.invalid;
    }),
  );
}
