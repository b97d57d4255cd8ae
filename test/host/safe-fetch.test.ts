import { createServer, type Server } from 'node:http';
import { Socket, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { nonPublicKind, safeFetch, type Resolver } from '../../engine/host/safe-fetch';

let server: Server;
let port: number;
let origin: string;
const hosts: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    hosts.push(String(req.headers.host));
    if (req.url === '/ok') return void res.writeHead(200, { 'content-type': 'image/png' }).end('PNGDATA');
    if (req.url === '/to-metadata') return void res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    if (req.url === '/to-lan') return void res.writeHead(301, { location: 'http://printer.lan/x' }).end();
    if (req.url === '/to-ok') return void res.writeHead(302, { location: '/ok' }).end();
    if (req.url === '/big-declared') return void res.writeHead(200, { 'content-length': String(30 * 1024 * 1024) }).end();
    if (req.url === '/big-streamed') {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent < 2 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
        if (sent < 2 * 1024 * 1024) res.once('drain', pump);
        else res.end();
      };
      return pump();
    }
    if (req.url === '/never') return; // never answers
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

// Every TCP connection the tests make, to prove none leaves the loopback range.
const connects: string[] = [];
const realConnect = Socket.prototype.connect;
beforeEach(() => {
  connects.length = 0;
  hosts.length = 0;
  vi.spyOn(Socket.prototype, 'connect').mockImplementation(function (this: Socket, ...args: unknown[]) {
    // Record where each connection really went, whatever name it was asked for.
    this.once('connect', () => connects.push(String(this.remoteAddress)));
    return (realConnect as (...a: unknown[]) => Socket).apply(this, args);
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  expect(connects.every((h) => h === '127.0.0.1' || h === '::1'), connects.join(', ')).toBe(true);
});

const resolveTo = (address: string, family: 4 | 6 = 4): Resolver & { calls: string[] } => {
  const calls: string[] = [];
  return Object.assign(async (host: string) => (calls.push(host), [{ address, family }]), { calls });
};

describe('nonPublicKind', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.20.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'cloud metadata'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['169.254.10.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'cloud metadata'],
    ['224.0.0.1', 'multicast'],
  ])('%s is %s', (address, kind) => expect(nonPublicKind(address)).toBe(kind));

  it.each(['8.8.8.8', '1.1.1.1', '2606:4700::1111', '::ffff:8.8.8.8'])('%s is public', (a) => expect(nonPublicKind(a)).toBeUndefined());
});

describe('safeFetch', () => {
  it.each([
    ['a loopback literal', 'http://127.0.0.1:1/x', /127\.0\.0\.1 is a loopback address/],
    ['an IPv6 loopback literal', 'http://[::1]:1/x', /is a loopback address/],
    ['an IPv4-mapped loopback', 'http://[::ffff:127.0.0.1]:1/x', /is a loopback address/],
    ['the metadata address', 'http://169.254.169.254/latest/meta-data/', /cloud metadata address/],
    ['a unique-local literal', 'http://[fd00::5]/x', /unique-local/],
    ['a file URL', 'file:///etc/passwd', /file URLs are not allowed \(http and https only\)/],
    ['a gopher URL', 'gopher://example.com/', /gopher URLs are not allowed/],
    ['credentials in the URL', 'http://user:pw@example.com/x', /user name or password/],
  ])('refuses %s without connecting', async (_n, url, message) => {
    await expect(safeFetch(url, { resolver: resolveTo('8.8.8.8') })).rejects.toThrow(message);
    expect(connects).toEqual([]);
  });

  it('refuses a name that resolves to a private address, naming the address', async () => {
    await expect(safeFetch('http://nas.example/photo.png', { resolver: resolveTo('192.168.0.10') })).rejects.toThrow(
      /nas\.example resolves to 192\.168\.0\.10, which is a private address; reference URLs must be public \(pass --allow-private-urls/,
    );
    expect(connects).toEqual([]);
  });

  it('refuses when any of the addresses a name has is private', async () => {
    const resolver: Resolver = async () => [{ address: '93.184.216.34', family: 4 }, { address: 'fe80::1', family: 6 }];
    await expect(safeFetch('http://mixed.example/', { resolver })).rejects.toThrow(/fe80::1, which is a link-local address/);
  });

  it('checks every redirect again: a redirect to the metadata address is refused', async () => {
    await expect(safeFetch(`${origin}/to-metadata`, { allowedOrigins: [origin] })).rejects.toThrow(/169\.254\.169\.254.*cloud metadata address/);
    expect(hosts).toEqual([`127.0.0.1:${port}`]);
  });

  it('checks a redirect to another name with the resolver', async () => {
    const resolver = resolveTo('10.0.0.7');
    await expect(safeFetch(`${origin}/to-lan`, { allowedOrigins: [origin], resolver })).rejects.toThrow(/printer\.lan resolves to 10\.0\.0\.7/);
    expect(resolver.calls).toEqual(['printer.lan']);
  });

  it('connects to the checked address, resolving the name only once', async () => {
    const resolver = resolveTo('127.0.0.1');
    const got = await safeFetch(`http://files.example:${port}/to-ok`, { allowPrivate: true, resolver });
    expect(got.bytes.toString()).toBe('PNGDATA');
    expect(got.url).toBe(`http://files.example:${port}/ok`);
    // The redirect stays on the same name: each hop is resolved once and sent with its own Host.
    expect(resolver.calls).toEqual(['files.example', 'files.example']);
    expect(hosts).toEqual([`files.example:${port}`, `files.example:${port}`]);
    expect(connects).toEqual(['127.0.0.1', '127.0.0.1']);
  });

  it('allows the configured origins (emulator, provider base URLs) and private URLs when asked', async () => {
    expect((await safeFetch(`${origin}/ok`, { allowedOrigins: [origin] })).bytes.toString()).toBe('PNGDATA');
    expect((await safeFetch(`${origin}/ok`, { allowPrivate: true })).contentType).toBe('image/png');
    await expect(safeFetch(`${origin}/ok`)).rejects.toThrow(/loopback/);
  });

  it('refuses a body over the cap from its Content-Length', async () => {
    await expect(safeFetch(`${origin}/big-declared`, { allowedOrigins: [origin] })).rejects.toThrow(/30\.0 MB; the limit is 20 MB/);
  });

  it('stops reading a body once it passes the cap, while it streams', async () => {
    await expect(safeFetch(`${origin}/big-streamed`, { allowedOrigins: [origin], maxBytes: 512 * 1024 })).rejects.toThrow(/more than 0\.\d MB; the limit is 0\.5 MB/);
  });

  it('gives up on a URL that never answers at the time limit', async () => {
    const started = Date.now();
    await expect(safeFetch(`${origin}/never`, { allowedOrigins: [origin], timeoutMs: 300 })).rejects.toThrow(/no complete answer within 0\.3 s/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('reports an HTTP error status', async () => {
    await expect(safeFetch(`${origin}/missing`, { allowedOrigins: [origin] })).rejects.toThrow(/HTTP 404/);
  });
});
