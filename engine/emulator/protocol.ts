/** The shape every provider protocol module fills in, and helpers they share. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Phase } from './faults';
import { BodyTooLargeError, parseJson, readBody, type Reply } from './http';
import type { EmulatorState } from './state';
import type { ProviderName } from './types';

/** One request as a protocol handler sees it. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Which of the two origins received the request. */
  origin: 'submit' | 'poll';
  state: EmulatorState;
}

/** A reply, or `null` when the handler already dealt with the socket (e.g. dropped it). */
export type HandlerResult = Reply | null;

/** A path a provider serves, with the phase its faults are drawn for. */
export interface Route {
  method: 'GET' | 'POST';
  /** Exact pathname, or a pattern for families like /v1/flux-2-*. */
  path: string | RegExp;
  phase: Phase;
  handle(ctx: RequestContext): Promise<HandlerResult>;
}

/** One provider: its routes and the shapes of its generic errors. */
export interface ProviderProtocol {
  name: ProviderName;
  routes: Route[];
  /** Whether an unknown path still looks like this provider's API (for its 404 shape). */
  ownsPath(pathname: string): boolean;
  notFound(): Reply;
  methodNotAllowed(): Reply;
  rateLimited(retryAfterSec: number, state: EmulatorState): Reply;
  /** An injected server error; `status` is the configured HTTP status (500, 503...). */
  serverError(status: number, state: EmulatorState, phase: Phase): Reply;
}

/** Max JSON body: base64 images make BFL bodies large. */
export const BODY_LIMIT = 64 * 1024 * 1024;

/** A parsed JSON body, or the provider's reply to a malformed one. */
export type JsonBody = { ok: true; value: unknown } | { ok: false; reply: Reply };

/** Reads and parses a JSON body; `onInvalid` shapes the provider's error for malformed JSON. */
export async function readJson(
  ctx: RequestContext,
  onInvalid: (error: string, position: number) => Reply,
  onTooLarge: () => Reply,
): Promise<JsonBody> {
  let raw: Buffer;
  try {
    raw = await readBody(ctx.req, BODY_LIMIT);
  } catch (e) {
    if (e instanceof BodyTooLargeError) return { ok: false, reply: onTooLarge() };
    throw e;
  }
  const parsed = parseJson(raw);
  return parsed.ok ? { ok: true, value: parsed.value } : { ok: false, reply: onInvalid(parsed.error, parsed.position) };
}

/**
 * kie.ai and crun.ai: body `code` is authoritative; the HTTP status mirrors it or is always 200,
 * per the emulator's `errorStatusStyle` ([U]).
 */
export function codeReply(state: EmulatorState, code: number, body: Record<string, unknown>, headers?: Record<string, string>, httpStatus = code): Reply {
  const status = state.options.errorStatusStyle === 'mirror' ? httpStatus : 200;
  return { status, body: { code, ...body }, headers };
}
