// Preloaded with `node --import`: appends the URL of every module the program imports to the
// file named by FLUXGRAPH_TEST_IMPORTS, so a test can see what a command loads.
import { register } from 'node:module';

const hooks = `
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.FLUXGRAPH_TEST_IMPORTS, result.url + '\\n');
  return result;
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
