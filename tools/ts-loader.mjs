// Module hooks that let Node 20 run the TypeScript sources directly (tests,
// tools): `.ts` files are transformed by esbuild, and extensionless or folder
// specifiers resolve the way the bundler resolves them (`../config` → index.ts).
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transform } from 'esbuild';

const candidates = (path) => [path, `${path}.ts`, `${path}/index.ts`];

function isFile(path) {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export async function resolve(specifier, context, next) {
  const relative = specifier.startsWith('./') || specifier.startsWith('../');
  if (relative && context.parentURL?.startsWith('file:') && context.parentURL.endsWith('.ts')) {
    const base = fileURLToPath(new URL(specifier, context.parentURL));
    for (const path of candidates(base)) {
      if (isFile(path)) return { url: pathToFileURL(path).href, shortCircuit: true, format: path.endsWith('.ts') ? 'module' : undefined };
    }
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (url.startsWith('file:') && url.endsWith('.ts')) {
    const path = fileURLToPath(url);
    const source = await readFile(path, 'utf8');
    const { code } = await transform(source, {
      loader: 'ts',
      format: 'esm',
      target: 'node20',
      sourcemap: 'inline',
      sourcefile: path,
    });
    return { format: 'module', source: code, shortCircuit: true };
  }
  if (url.startsWith('file:') && url.endsWith('.json') && existsSync(fileURLToPath(url))) {
    const source = await readFile(fileURLToPath(url), 'utf8');
    return { format: 'module', source: `export default ${source};`, shortCircuit: true };
  }
  return next(url, context);
}
