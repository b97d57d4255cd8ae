import type { ProviderProtocol } from './protocol';

const stub = (status: number) => ({ status, body: { code: status } });
export const novitaProtocol: ProviderProtocol = {
  name: 'novita',
  routes: [],
  ownsPath: () => false,
  notFound: () => stub(404),
  methodNotAllowed: () => stub(405),
  rateLimited: () => stub(429),
  serverError: (s) => stub(s),
  bodyTooLarge: () => stub(413),
};
