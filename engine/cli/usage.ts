/** The `fluxgraph --help` text. */
export const USAGE = `fluxgraph: node-based pipelines for FLUX.2 image generation

Usage:
  fluxgraph run <pipeline.json> [--out DIR] [--provider NAME] [--set node.param=value | name=value]...
                [--concurrency provider=N]... [--timeout SEC] [--budget USD] [--only NODE]...
                [--no-cache] [--cache-dir DIR] [--json]
  fluxgraph run --resume <run id>       continue an interrupted run without paying twice
  fluxgraph validate <pipeline.json> [--provider NAME] [--set ...] [--json]
  fluxgraph estimate <pipeline.json> [--provider NAME] [--set ...] [--only NODE]... [--json]
  fluxgraph runs [--json]               run history with status and cost
  fluxgraph prune [--older-than DAYS] [--dry-run]   clean the image store and old runs
  fluxgraph nodes [--json]
  fluxgraph schema                      print the pipeline JSON Schema
  fluxgraph emulator [--port N] [...]   serve the local provider emulator (--help for flags)
  fluxgraph serve [--port N] [--open]   the editor on http://127.0.0.1

Providers: bfl, kie, novita, crun. Keys come from BFL_API_KEY, KIE_API_KEY, NOVITA_API_KEY,
CRUN_API_KEY (environment or ./.env). With no key set, runs use the embedded emulator.
Exit codes: 0 done, 1 some items failed, 2 invalid pipeline or usage, 130 interrupted.`;
