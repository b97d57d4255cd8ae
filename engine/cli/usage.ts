/**
 * The `fluxgraph --help` text and each command's own `--help`. Plain strings, so printing help
 * loads none of the engine (main.ts imports a command's module only when it runs).
 */
export const USAGE = `fluxgraph: node-based pipelines for FLUX.2 image generation

Usage:
  fluxgraph run <pipeline.json> [--out DIR] [--provider NAME] [--set node.param=value | name=value]...
                [--concurrency provider=N]... [--timeout SEC] [--budget USD] [--only NODE]...
                [--no-cache] [--cache-dir DIR] [--allow-private-urls] [--json] [--inputs rows.csv|rows.jsonl [--rows FROM-TO]]
  fluxgraph run --resume <run id> [--retry-failed]
                                        continue an interrupted run without paying twice
                [--resubmit-ambiguous [--yes]]   also send again the submits cut off on the wire
  fluxgraph validate <pipeline.json> [--out DIR] [--provider NAME] [--set ...] [--inputs FILE [--rows ...]] [--json]
  fluxgraph estimate <pipeline.json> [--out DIR] [--provider NAME] [--set ...] [--only NODE]... [--inputs FILE [--rows ...]] [--json]
  fluxgraph runs [--json]               run history with status and cost
  fluxgraph runs show <run id> [--json] each task of a run: provider, account, task id, state, cost
  fluxgraph prune [--older-than DAYS] [--dry-run]   clean the image store and old runs
  fluxgraph nodes [--json]              node types with their ports and params
  fluxgraph schema                      print the pipeline JSON Schema
  fluxgraph emulator [--port N] [...]   serve the local provider emulator
  fluxgraph serve [pipeline.json] [...] the editor on http://127.0.0.1
  fluxgraph worker [--runs] [--calls]   team mode: take runs and provider calls from the shared queue
  fluxgraph queue [list|pause|resume|cancel RUN|retry RUN]   team mode: the shared queue
  fluxgraph token add NAME [--team T] [--admin] | list | revoke ID|NAME
                                        access tokens for a server others can reach
  fluxgraph cap set --person P | --team T [--day USD] [--month USD] | list | clear ...
                                        spending caps per person and team
  fluxgraph --version

Each command's --help lists its options.
Providers: bfl, kie, novita, crun. Keys come from BFL_API_KEY, KIE_API_KEY, NOVITA_API_KEY,
CRUN_API_KEY (environment or ./.env). With no key set, runs use the embedded emulator.
validate, estimate and the start of run check files, keys, folders and balances before anything
is spent. Reference URLs must point at public addresses unless --allow-private-urls is given.
Exit codes: 0 done, 1 some items failed, 2 invalid pipeline or usage, 130 interrupted.`;

const CHECK_OPTIONS = `  --provider NAME           provider for nodes that do not choose one (bfl, kie, novita, crun)
  --set node.param=VALUE    override a node's param (JSON when it parses, e.g. --set drafts.steps=12)
  --set name=VALUE          fill {name} placeholders in prompts (over settings.variables)`;

const BATCH_OPTIONS = `  --inputs FILE             a batch: run the pipeline once per row of a CSV (header row) or JSONL
                            file, each row's columns filling {name} variables, all in one run
  --rows FROM-TO            only these data rows of --inputs (1-based, inclusive: 10-20, 5, 10-)`;

const CACHE_DIR = `  --cache-dir DIR           ledger and image store (default $FLUXGRAPH_CACHE_DIR, else ./.fluxgraph)`;

export const COMMAND_HELP: Record<string, string> = {
  token: `Usage: fluxgraph token add NAME [--team T] [--admin]
       fluxgraph token list [--json]
       fluxgraph token revoke ID|NAME

Access tokens of a server others can reach (serve off loopback, or --behind-proxy): one per
person, shown once, kept as a hash in the ledger in use (Postgres when FLUXGRAPH_DATABASE_URL is
set, else ./.fluxgraph/ledger.sqlite or --cache-dir). The CLI sends it as FLUXGRAPH_TOKEN; the
editor signs in with it. An admin token sees and cancels every run; others only their own.
revoke takes a token id (token list) or a person (all their tokens).`,
  cap: `Usage: fluxgraph cap set --person P | --team T [--day USD] [--month USD]
       fluxgraph cap list [--json]
       fluxgraph cap clear --person P | --team T

Spending caps per person and per team, per UTC day and calendar month, in the ledger in use.
Each paid call is checked when it is claimed, against the pricing table's price with the work in
flight counted, and settled at the provider's figure, so two people cannot both pass a cap.`,
  worker: `Usage: fluxgraph worker [--runs] [--calls] [--concurrency N] [--concurrency PROVIDER=N ...]

Team mode: takes run jobs (coordinating whole runs, each paid call sent to the queue) and
provider-call jobs for every account whose key is set here (BFL_API_KEY, or
BFL_API_KEYS=teamA:<key>,teamB:<key>; the same for kie, novita, crun). Both unless one is asked for.
Each account's cap holds across every worker on every machine.

  --runs                    take run jobs (needs no provider key)
  --calls                   take provider-call jobs
  --concurrency N           runs, and calls per account, this process works on at once
                            (default: 4 runs; calls up to the account's cap)
  --concurrency bfl=N       each BFL account's cap across all workers (default: the documented cap)

Needs FLUXGRAPH_REDIS_URL, FLUXGRAPH_DATABASE_URL (the Postgres ledger) and FLUXGRAPH_STORE
(a folder every machine shares, or s3://bucket/prefix). SIGTERM hands its runs back to the queue
(another worker continues them), finishes the calls in hand and takes no new ones.`,
  queue: `Usage: fluxgraph queue [list] [--json]
       fluxgraph queue pause | resume
       fluxgraph queue cancel <run id>
       fluxgraph queue retry <run id> [--priority N] [--resubmit-ambiguous] [--retry-failed]

Team mode's shared queue. list: the runs going and waiting (owner, priority) and each provider
account's calls active / cap and waiting. pause: no new run starts (runs going go on). cancel: a
waiting run leaves the queue; a running one stops as on Ctrl-C (submits on the wire finish and are
recorded). retry: a stopped run is queued again; what it paid for is read from the ledger.
Needs FLUXGRAPH_REDIS_URL (and FLUXGRAPH_DATABASE_URL for cancel and retry).`,
  run: `Usage: fluxgraph run <pipeline.json> [options]
       fluxgraph run --resume <run id> [--out DIR] [--concurrency provider=N]... [--timeout SEC] [--budget USD] [--json]

Runs the pipeline, with every paid task recorded in the ledger before polling, so an
interrupted run continues with --resume without paying twice.

${CHECK_OPTIONS}
  --out DIR                 where save-image writes files (default ./out)
  --concurrency provider=N  most active tasks on a provider (default: its documented limit), repeatable
  --timeout SEC             overall limit per provider task (default 600, or settings.taskTimeoutSec)
  --budget USD              refuse to start when the estimate is higher; stop submitting once the
                            cost reported so far (plus what is in flight) would pass it
  --only NODE               run that node and what it needs, reusing the last run's upstream results
  --queue                   team mode: put the run on the shared queue (FLUXGRAPH_REDIS_URL) and
                            follow it; Ctrl-C cancels it there (fluxgraph queue retry continues it)
  --detach                  with --queue: print the run id and return at once
  --priority N              with --queue: higher runs first (-1000 to 1000, default 0)
  --no-cache                make new provider calls even for results the store holds
${BATCH_OPTIONS}
  --resume RUN_ID           continue an interrupted run (fluxgraph runs lists them) with its stored
                            pipeline and options (no pipeline file; --no-cache stays on if it was);
                            a batch continues the rows not done and leaves failed rows failed;
                            a finished run is already done (exit 0, nothing spent)
  --retry-failed            with --resume: send the failed rows again (their cost is printed first)
${CACHE_DIR}
  --json                    one JSON event per line (the default when stdout is not a terminal)

Ctrl-C or SIGTERM stops submitting, lets the submits on the wire finish and be recorded, and
prints the summary with the resume command as its last line (Ctrl-C twice quits at once).
When nothing reads the output any more (\`| head\`), the run stops the same way, as interrupted.

Exit codes: 0 done, 1 some items failed, 2 invalid pipeline or usage, 130 interrupted.`,

  validate: `Usage: fluxgraph validate <pipeline.json> [options]

Checks the pipeline (node types, params, edges, inputs, cycles, placeholders, reference files
and the chosen provider's capabilities) and reports every problem at once. Spends nothing.

${CHECK_OPTIONS}
${BATCH_OPTIONS}
  --json                    {"ok": ..., "issues": [...]} on stdout

Exit codes: 0 valid (warnings allowed), 2 invalid or usage.`,

  estimate: `Usage: fluxgraph estimate <pipeline.json> [options]

Prices every provider call the run would make (fan-out, picks and references counted; items the
store would serve at $0), from the pricing table. Spends nothing.

${CHECK_OPTIONS}
  --only NODE               price only that node and what it needs, repeatable
  --no-cache                price cached items too
${BATCH_OPTIONS}
${CACHE_DIR}
  --json                    the estimate as JSON

Exit codes: 0 priced, 2 invalid pipeline or usage.`,

  runs: `Usage: fluxgraph runs [--json] [--limit N] [--cache-dir DIR]

Run history, newest first: status, pipeline, images, failures and cost (CLI, editor and
library runs alike). * marks a resumable run (interrupted, cancelled, partial or failed: a
killed run reads as interrupted once its process is gone); [emulator] marks a run made on the
embedded emulator. \`runs show <id>\` lists each task of a run.

  --limit N                 how many runs (default 50)
${CACHE_DIR}
  --json                    the runs as JSON`,

  prune: `Usage: fluxgraph prune [--older-than DAYS] [--dry-run] [--cache-dir DIR]

Forgets runs older than DAYS (default 30) and removes stored images no remaining run refers to.

  --older-than DAYS         age of the runs to forget (default 30)
  --dry-run                 say what would be removed, remove nothing
${CACHE_DIR}`,

  nodes: `Usage: fluxgraph nodes [--json]

Lists the node types with their ports and params (types, ranges, defaults), from the node
declarations.

  --json                    the same as JSON`,

  schema: `Usage: fluxgraph schema

Prints the JSON Schema of the pipeline document (draft 2020-12), with every node type's params,
so an editor with "$schema" completes node types and params. The same file is published as
schema/pipeline.schema.json.`,
};

/** `-h` or `--help` among a command's arguments (before a `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}
