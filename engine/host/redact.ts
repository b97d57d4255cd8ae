/** Last line of defence: no secret value ever leaves the process, even inside a provider's message. */
export type Redact = (text: string) => string;

/**
 * Every form a key could be echoed in: as is, URL-encoded (query strings, form bodies) and
 * base64 (Basic auth headers, encoded payloads), standard and URL-safe. A base64 encoding of a
 * key inside a longer encoded text only lines up at one of three offsets, so each offset's
 * stable middle part is redacted too.
 */
function formsOf(secret: string): string[] {
  const forms = new Set([secret, encodeURIComponent(secret), encodeURIComponent(secret).replace(/%20/g, '+')]);
  const bytes = Buffer.from(secret, 'utf8');
  for (let pad = 0; pad < 3; pad++) {
    const shifted = Buffer.concat([Buffer.alloc(pad), bytes]);
    let b64 = shifted.toString('base64');
    // Drop the characters that depend on the bytes before (pad) and after the secret.
    const start = pad === 0 ? 0 : pad === 1 ? 2 : 3;
    const tailBytes = shifted.length % 3;
    b64 = b64.replace(/=+$/, '');
    const end = tailBytes === 0 ? b64.length : b64.length - 1;
    const middle = b64.slice(start, end);
    if (middle.length >= 6) {
      forms.add(middle);
      forms.add(middle.replace(/\+/g, '-').replace(/\//g, '_'));
    }
  }
  return [...forms].filter((f) => f.length >= 4).sort((a, b) => b.length - a.length);
}

/** `secrets` is read on every call, so keys learned later (callback secrets) are covered too. */
export function redactor(secrets: () => readonly string[]): Redact {
  const cache = new Map<string, string[]>();
  return (text) => {
    let out = text;
    for (const s of secrets()) {
      if (s.length < 4) continue;
      let forms = cache.get(s);
      if (!forms) cache.set(s, (forms = formsOf(s)));
      for (const f of forms) if (out.includes(f)) out = out.split(f).join('[redacted]');
    }
    return out;
  };
}
