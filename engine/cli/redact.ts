/** Last line of defence: no secret value ever reaches the terminal, even inside a provider's message. */
export function redactor(secrets: readonly string[]): (text: string) => string {
  const list = secrets.filter((s) => s.length >= 6);
  if (!list.length) return (t) => t;
  return (text) => {
    let out = text;
    for (const s of list) out = out.split(s).join('[redacted]');
    return out;
  };
}
