/**
 * `fluxgraph emulator`: serves the provider emulator until SIGINT/SIGTERM and prints the
 * environment that points fluxgraph (or any client) at it.
 */
import { parseArgs } from 'node:util';
import type { FaultConfig, Phase } from '../emulator/faults';
import { startEmulator } from '../emulator/server';
import { PROVIDER_NAMES, RESULT_TTL_MS, type Emulator, type EmulatorOptions, type ProviderName } from '../emulator/types';

/** Streams and a stop signal, injectable so the command can be tested in-process. */
export interface EmulatorCommandIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Stops the emulator like SIGINT does. */
  signal?: AbortSignal;
  /** Called once the emulator listens. */
  onReady?: (emulator: Emulator) => void;
}

const DEFAULT_PORT = 8787;

type Kind = 'port' | 'ms' | 'seconds' | 'probability' | 'count' | 'int' | 'text' | 'phases' | 'choice' | 'ttl';

interface FlagSpec {
  kind: Kind;
  help: string;
  multiple?: boolean;
  /** The values a `choice` flag takes. */
  choices?: readonly string[];
}

const FLAGS: Record<string, FlagSpec> = {
  port: { kind: 'port', help: `submit port for all four providers (default ${DEFAULT_PORT}; 0 = any free port)` },
  'poll-port': { kind: 'port', help: 'port of BFL polling_url and result URLs (default: --port + 1)' },
  host: { kind: 'text', help: 'interface to listen on (default 127.0.0.1)' },
  latency: { kind: 'ms', help: 'ms from submit to the terminal state (default 300)' },
  seed: { kind: 'int', help: 'seed of the fault PRNG, for reproducible runs (default 1)' },
  'fault-429': { kind: 'probability', help: 'probability of a 429 with Retry-After' },
  'retry-after': { kind: 'count', help: 'seconds announced in Retry-After (default 1)' },
  'fault-5xx': { kind: 'probability', help: 'probability of a server error' },
  'status-5xx': { kind: 'int', help: 'status of injected server errors (default 500; 502/504 answer a gateway HTML page)' },
  'fault-drop': { kind: 'probability', help: 'probability the connection is dropped without a response' },
  'fault-phase': { kind: 'phases', help: 'phases --fault-429/--fault-5xx/--fault-drop apply to (default submit,poll,download)' },
  'drop-after-accept': { kind: 'probability', help: 'probability a submit creates the task, then loses the response' },
  'slow-poll': { kind: 'ms', help: 'delay added to every poll, ms' },
  'not-found-polls': { kind: 'count', help: 'answer the first N status requests of every task "not found", as a lagging replica does' },
  moderation: { kind: 'probability', help: 'probability the output is moderated (Content Moderated)' },
  'moderation-request': { kind: 'probability', help: 'probability the request is moderated (Request Moderated)' },
  stuck: { kind: 'probability', help: 'probability a task never leaves pending' },
  fail: { kind: 'probability', help: 'probability generation fails' },
  'insufficient-credits': { kind: 'probability', help: 'probability a submit is refused for credits (402 / balance error)' },
  credits: { kind: 'count', help: 'starting balance per provider and key, in provider credits (default 1000000)' },
  'result-ttl': {
    kind: 'ttl',
    multiple: true,
    help: `seconds result URLs stay valid, for all or one provider (bfl=600, repeatable); default: as documented, ${PROVIDER_NAMES.map((p) => `${p} ${RESULT_TTL_MS[p] / 1000}`).join(', ')}`,
  },
  'upload-ttl': { kind: 'seconds', help: 'seconds files uploaded through the kie.ai upload API stay (default 86400; kie says 1 to 3 days)' },
  'bfl-webhook-polling-url': {
    kind: 'choice',
    choices: ['include', 'omit'],
    help: 'a BFL submit with webhook_url answers with a polling_url (include, default, as recorded traffic) or without one (omit, as the OpenAPI allows); then the task is asked for on the submit host',
  },
  'bfl-not-found-status': { kind: 'choice', choices: ['200', '404'], help: 'HTTP status of BFL\'s "Task not found" answer: 200 with the status in the body (default) or 404' },
  'crun-input-style': { kind: 'choice', choices: ['img_urls', 'input_images'], help: "which of the two plausible crun.ai FLUX.2 input shapes to enforce (default img_urls; fields of the other shape are dropped, as crun's echo shows)" },
  'novita-webhooks': { kind: 'choice', choices: ['send', 'ignore'], help: 'novita.ai sends extra.webhook callbacks (send, default) or ignores them for FLUX.2 (ignore; not documented for these models)' },
  'task-ttl': { kind: 'seconds', help: 'seconds before a task is forgotten (default 86400)' },
  'expire-results': { kind: 'probability', help: 'probability a result URL answers as expired early' },
  truncate: { kind: 'probability', help: 'probability an image download is cut off halfway' },
  'active-cap': { kind: 'count', help: 'active tasks allowed per provider and key (default 24; 0 = no cap)' },
  'error-status': { kind: 'choice', choices: ['mirror', 'http200'], help: 'kie/crun error HTTP status: mirror (= body code) or http200 (default)' },
  'valid-key': { kind: 'text', multiple: true, help: 'accept only this key (repeatable); default: any non-empty key' },
  'kie-hmac-key': { kind: 'text', help: 'kie.ai webhookHmacKey: sign kie callbacks with it' },
  'bfl-signature-header': { kind: 'text', help: 'header BFL webhooks are signed in (default X-BFL-Signature; the scheme is not in BFL\'s reference docs)' },
  'callback-missing': { kind: 'probability', help: 'probability a completion callback is never sent' },
  'callback-duplicate': { kind: 'probability', help: 'probability a completion callback is sent twice' },
  'callback-bad-signature': { kind: 'probability', help: 'probability a callback carries a wrong signature' },
};

const ALLOWED: Record<Kind, string> = {
  port: 'an integer from 0 to 65535',
  ms: 'a number of milliseconds >= 0',
  seconds: 'a number of seconds >= 0',
  probability: 'a probability from 0 to 1',
  count: 'an integer >= 0',
  int: 'an integer',
  text: 'a non-empty string',
  phases: 'a comma-separated list of submit, poll, download',
  choice: 'one of the listed values',
  ttl: `seconds >= 0, or PROVIDER=seconds (${PROVIDER_NAMES.join(', ')})`,
};

/** What a flag allows, in words. */
function allowed(spec: FlagSpec): string {
  return spec.kind === 'choice' ? `one of ${spec.choices!.join(', ')}` : ALLOWED[spec.kind];
}

export const EMULATOR_USAGE = `Usage: fluxgraph emulator [flags]

Serves BFL, kie.ai, novita.ai and crun.ai FLUX.2 APIs locally with deterministic images.

Flags:
${Object.entries(FLAGS)
  .map(([name, f]) => `  --${(name + (f.kind === 'text' ? ' VALUE' : f.kind === 'phases' ? ' LIST' : f.kind === 'choice' ? ` ${f.choices!.join('|')}` : f.kind === 'ttl' ? ' [PROVIDER=]N' : ' N')).padEnd(30)}${f.help}`)
  .join('\n')}
  --help                          this text

Prompt triggers: [moderate-request] [moderate-content] [fail] [stuck].`;

class FlagError extends Error {}

function parseValue(name: string, spec: FlagSpec, raw: string): number | string | Phase[] | [ProviderName | undefined, number] {
  const kind = spec.kind;
  const bad = () => new FlagError(`--${name} must be ${allowed(spec)}, got "${raw}"`);
  switch (kind) {
    case 'text':
      if (raw.trim() === '') throw bad();
      return raw;
    case 'choice':
      if (!spec.choices!.includes(raw)) throw bad();
      return raw;
    case 'ttl': {
      const m = /^(?:([a-z]+)=)?(.+)$/.exec(raw)!;
      const provider = m[1] as ProviderName | undefined;
      if (provider !== undefined && !PROVIDER_NAMES.includes(provider)) throw bad();
      const n = Number(m[2]);
      if (m[2].trim() === '' || !Number.isFinite(n) || n < 0) throw bad();
      return [provider, n];
    }
    case 'phases': {
      const parts = raw.split(',').map((s) => s.trim());
      if (parts.length === 0 || parts.some((p) => !['submit', 'poll', 'download'].includes(p))) throw bad();
      return parts as Phase[];
    }
    default: {
      if (raw.trim() === '') throw bad();
      const n = Number(raw);
      if (!Number.isFinite(n)) throw bad();
      const integer = kind === 'port' || kind === 'count' || kind === 'int';
      if (integer && !Number.isInteger(n)) throw bad();
      if (kind !== 'int' && n < 0) throw bad();
      if (kind === 'port' && n > 65535) throw bad();
      if (kind === 'probability' && n > 1) throw bad();
      return n;
    }
  }
}

/** Turns argv into emulator options; throws FlagError with a message naming the flag. */
export function parseEmulatorArgs(argv: string[]): { options: Partial<EmulatorOptions>; help: boolean } {
  const args = argv[0] === 'emulator' ? argv.slice(1) : argv;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(Object.entries(FLAGS).map(([name, f]) => [name, { type: 'string' as const, multiple: f.multiple ?? false }])),
      },
    });
  } catch (e) {
    const code = (e as { code?: string }).code;
    const msg = (e as Error).message;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'([^']+)'/.exec(msg)?.[1] ?? msg;
      throw new FlagError(`unknown flag ${flag}; allowed: ${Object.keys(FLAGS).map((f) => `--${f}`).join(', ')}, --help`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const flag = /--([\w-]+)/.exec(msg)?.[1];
      const spec = flag ? FLAGS[flag] : undefined;
      throw new FlagError(spec ? `--${flag} needs a value: ${allowed(spec)}` : msg);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new FlagError(`unexpected argument: ${msg.replace(/^.*?'([^']+)'.*$/s, '$1')} (the emulator takes only flags; see --help)`);
    throw new FlagError(msg);
  }
  const v = parsed.values as Record<string, string | string[] | boolean | undefined>;
  const get = <T>(name: string): T | undefined => {
    const raw = v[name];
    if (raw === undefined) return undefined;
    if (Array.isArray(raw)) return raw.map((r) => parseValue(name, FLAGS[name], r)) as T;
    return parseValue(name, FLAGS[name], raw as string) as T;
  };

  const port = get<number>('port') ?? DEFAULT_PORT;
  const phases = get<Phase[]>('fault-phase') ?? ['submit', 'poll', 'download'];
  const gate = {
    rate429: get<number>('fault-429'),
    retryAfterSec: get<number>('retry-after'),
    error5xx: get<number>('fault-5xx'),
    status5xx: get<number>('status-5xx'),
    drop: get<number>('fault-drop'),
  };
  const status5xx = gate.status5xx;
  if (status5xx !== undefined && (status5xx < 500 || status5xx > 599)) throw new FlagError(`--status-5xx must be a status from 500 to 599, got "${status5xx}"`);
  const faults: FaultConfig = {};
  for (const phase of phases) faults[phase] = { ...gate };
  faults.submit = { ...faults.submit, dropAfterAccept: get('drop-after-accept'), insufficientCredits: get('insufficient-credits') };
  faults.poll = { ...faults.poll, delayMs: get('slow-poll'), notFoundPolls: get('not-found-polls') };
  faults.download = { ...faults.download, expired: get('expire-results'), truncate: get('truncate') };
  faults.outcome = { moderateContent: get('moderation'), moderateRequest: get('moderation-request'), stuck: get('stuck'), fail: get('fail') };
  faults.callback = { missing: get('callback-missing'), duplicate: get('callback-duplicate'), badSignature: get('callback-bad-signature') };

  const seconds = (name: string) => {
    const s = get<number>(name);
    return s === undefined ? undefined : s * 1000;
  };
  const ttls = get<[ProviderName | undefined, number][]>('result-ttl') ?? [];
  const byProvider = Object.fromEntries(ttls.filter(([p]) => p !== undefined).map(([p, s]) => [p, s * 1000]));
  const all = ttls.filter(([p]) => p === undefined).at(-1);
  const notFound = get<string>('bfl-not-found-status');
  const options: Partial<EmulatorOptions> = {
    port,
    pollPort: get<number>('poll-port') ?? (port === 0 ? 0 : port + 1),
    host: get('host'),
    latencyMs: get('latency'),
    seed: get('seed'),
    resultTtlMs: all ? all[1] * 1000 : undefined,
    resultTtlByProvider: Object.keys(byProvider).length ? byProvider : undefined,
    uploadTtlMs: seconds('upload-ttl'),
    bflWebhookPollingUrl: get('bfl-webhook-polling-url'),
    bflNotFoundStatus: notFound === undefined ? undefined : (Number(notFound) as 200 | 404),
    crunInputStyle: get('crun-input-style'),
    novitaWebhooks: get('novita-webhooks'),
    taskTtlMs: seconds('task-ttl'),
    activeTaskCap: get('active-cap'),
    initialCredits: get('credits'),
    errorStatusStyle: get('error-status'),
    validKeys: get('valid-key'),
    kieWebhookHmacKey: get('kie-hmac-key'),
    bflSignatureHeader: get('bfl-signature-header'),
    faults: stripUndefined(faults) as FaultConfig,
  };
  return { options: stripUndefined(options) as Partial<EmulatorOptions>, help: v.help === true };
}

function stripUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const inner = stripUndefined(v);
      if (inner === undefined) continue;
      if (inner && typeof inner === 'object' && !Array.isArray(inner) && Object.keys(inner).length === 0 && k !== 'faults') continue;
      out[k] = inner;
    }
    return out;
  }
  return value;
}

function describe(em: Emulator): string {
  const key = em.options.validKeys?.[0] ?? 'anything';
  const env = (name: string) => `${name}_BASE_URL=${em.baseUrl} ${name}_API_KEY=${key}`;
  const lines = [
    'fluxgraph emulator: FLUX.2 provider APIs with local stand-in images',
    `  submit   ${em.baseUrl}   (BFL /v1/flux-2-*, kie.ai /api/v1/jobs/*, novita.ai /v3/async/*, crun.ai /api/v1/client/job/*)`,
    `  polling  ${em.pollBaseUrl}   (BFL polling_url and result URLs)`,
    '',
    'Point fluxgraph (or any client) at it:',
    `  export ${env('BFL')}`,
    `  export ${env('KIE')}`,
    `  export ${env('NOVITA')}`,
    `  export ${env('CRUN')}`,
  ];
  // kie.ai's upload API (another host in production) is served on the same origin here.
  lines.push(`  export KIE_UPLOAD_BASE_URL=${em.baseUrl}`);
  if (em.options.kieWebhookHmacKey) lines.push(`  export KIE_WEBHOOK_HMAC_KEY=${em.options.kieWebhookHmacKey}`);
  if (em.options.crunInputStyle) lines.push(`  export CRUN_INPUT_STYLE=${em.options.crunInputStyle}`);
  const faults = JSON.stringify(em.options.faults);
  lines.push('', `latency ${em.options.latencyMs} ms, active-task cap ${em.options.activeTaskCap}, result URLs valid ${resultLifetimes(em)}, errors ${em.options.errorStatusStyle}`);
  lines.push(...modes(em));
  lines.push(faults === '{}' ? 'no faults (prompt triggers still work: [moderate-request] [moderate-content] [fail] [stuck])' : `faults ${faults}`);
  lines.push('Ctrl-C to stop.', '');
  return lines.join('\n');
}

/** "bfl 600 s, kie 86400 s, ...": each provider's result URL lifetime. */
function resultLifetimes(em: Emulator): string {
  return PROVIDER_NAMES.map((p) => `${p} ${(em.options.resultTtlByProvider?.[p] ?? em.options.resultTtlMs ?? RESULT_TTL_MS[p]) / 1000} s`).join(', ');
}

/** The modes that differ from the defaults, one line each. */
function modes(em: Emulator): string[] {
  const o = em.options;
  return [
    o.bflWebhookPollingUrl === 'omit' ? 'BFL webhook submits are answered without polling_url (the task is asked for on the submit host)' : '',
    o.bflNotFoundStatus === 404 ? 'BFL answers "Task not found" with HTTP 404' : '',
    o.crunInputStyle ? `crun.ai enforces the ${o.crunInputStyle} input shape` : '',
    o.novitaWebhooks === 'ignore' ? 'novita.ai sends no webhooks' : '',
    o.uploadTtlMs !== undefined ? `kie.ai uploads stay ${o.uploadTtlMs / 1000} s` : '',
  ].filter(Boolean);
}

function waitForStop(signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (signal?.aborted) done();
    else signal?.addEventListener('abort', done, { once: true });
  });
}

/** Runs `fluxgraph emulator [flags]`; returns the exit code (0 stopped, 2 bad flags, 1 cannot listen). */
export async function runEmulatorCommand(argv: string[], io: EmulatorCommandIo = {}): Promise<number> {
  const out = io.stdout ?? ((s: string) => void process.stdout.write(s));
  const err = io.stderr ?? ((s: string) => void process.stderr.write(s));
  let parsed: ReturnType<typeof parseEmulatorArgs>;
  try {
    parsed = parseEmulatorArgs(argv);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    err(`fluxgraph emulator: ${e.message}\n`);
    return 2;
  }
  if (parsed.help) {
    out(`${EMULATOR_USAGE}\n`);
    return 0;
  }
  let em: Emulator;
  try {
    em = await startEmulator(parsed.options);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const hint = code === 'EADDRINUSE' ? ' (port in use: pick another with --port/--poll-port, or 0 for any free port)' : '';
    err(`fluxgraph emulator: cannot listen: ${(e as Error).message}${hint}\n`);
    return 1;
  }
  out(describe(em));
  io.onReady?.(em);
  await waitForStop(io.signal);
  const s = em.stats();
  const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  await em.close();
  out(`emulator stopped: ${total(s.submissions)} tasks, ${total(s.polls)} polls, ${total(s.downloads)} downloads\n`);
  return 0;
}
