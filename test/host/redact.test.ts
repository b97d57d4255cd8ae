import { describe, expect, it } from 'vitest';
import { redactor } from '../../engine/host/redact';

const key = 'sk-live/Ab+12 cd=ef?gh&ij';
const redact = redactor(() => [key]);

describe('redactor', () => {
  it.each([
    ['plain', `error: key ${key} refused`],
    ['URL-encoded', `GET /v1?key=${encodeURIComponent(key)}&x=1`],
    ['form-encoded', `body: key=${encodeURIComponent(key).replace(/%20/g, '+')}`],
    ['base64', `Authorization: Basic ${Buffer.from(key).toString('base64')}`],
    ['base64 of user:key', `Authorization: Basic ${Buffer.from(`user:${key}`).toString('base64')}`],
    ['base64 of key inside a longer payload', `payload ${Buffer.from(`{"a":1,"token":"${key}","b":2}`).toString('base64')}`],
    ['URL-safe base64', `t=${Buffer.from(`xy${key}`).toString('base64url')}`],
  ])('removes the key in %s form', (_n, text) => {
    const out = redact(text);
    expect(out).toContain('[redacted]');
    expect(out).not.toContain(key);
    expect(out).not.toContain(encodeURIComponent(key));
    // No run of the base64 encodings at any offset survives.
    for (let pad = 0; pad < 3; pad++) {
      const b64 = Buffer.concat([Buffer.alloc(pad), Buffer.from(key)]).toString('base64');
      expect(out).not.toContain(b64.slice(4, -4));
      expect(out).not.toContain(Buffer.concat([Buffer.alloc(pad), Buffer.from(key)]).toString('base64url').slice(4, -4));
    }
  });

  it('leaves text without the key alone, and ignores very short secrets', () => {
    expect(redact('all fine')).toBe('all fine');
    expect(redactor(() => ['ab'])('ab cd')).toBe('ab cd');
  });
});
