/** Last line of defence: no secret value ever leaves the process, even inside a provider's message. */
export type Redact = (text: string) => string;

/** `secrets` is read on every call, so keys learned later (callback secrets) are covered too. */
export function redactor(secrets: () => readonly string[]): Redact {
  return (text) => {
    let out = text;
    for (const s of secrets()) if (s.length >= 4) out = out.split(s).join('[redacted]');
    return out;
  };
}
