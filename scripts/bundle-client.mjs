#!/usr/bin/env node
// Bundles the compiled client (dist/src/cli/client/main.js and everything it imports, ssh2 and the
// other packages included) into one CommonJS file, dist/src/client/coffer.bundle.cjs, and writes
// a V8 code cache for it, dist/src/client/coffer.bundle.cache; bin/coffer.js runs the bundle with
// that cache. Node 20 spends ~80 ms resolving, reading and linking the ~150 files of an unbundled
// start, and ~25 ms more parsing and compiling the bundle's 1.2 MB without the cache: `coffer ls`
// takes ~0.12 s instead of ~0.19 s. Run by `npm run build` after tsc, so the bundle is always
// made from the dist/ next to it.
//
// CommonJS, not ESM, because Node 20 can give compiled code to a vm.Script (cachedData), but not
// to an ES module. The bundle's `import.meta.url` becomes the bundle's own file URL.
//
// What stays outside the bundle, loaded from node_modules at run time:
// - native addons (*.node): ssh2's crypto binding is required by its package path; without it
//   ssh2 would fall back to slower ciphers silently, so this script checks that it resolves.
// - cpu-features (a native addon package ssh2 uses to order ciphers).
// The bundle sits in dist/src/client/ so that `new URL('./hash-thread-worker.js', import.meta.url)`
// (the hash thread) still finds the compiled worker beside it.
//
// The code cache is made by scripts/write-code-cache.cjs (its comment says how, and how
// bin/coffer.js checks it before use).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist/src/cli/client/main.js');
const outfile = join(root, 'dist/src/client/coffer.bundle.cjs');
const cacheFile = join(root, 'dist/src/client/coffer.bundle.cache');
const outdir = dirname(outfile);

if (!existsSync(entry)) {
  console.error(`bundle-client: ${relative(root, entry)} is missing; run tsc first (npm run build does both)`);
  process.exit(1);
}

/** [specifier the bundle requires, file it must resolve to] for every native addon. */
const nativeAddons = [];
/**
 * Keeps *.node requires external. One inside a package becomes a package path ('ssh2/lib/...'),
 * which resolves through node_modules from the bundle's folder wherever the package manager put
 * ssh2 (beside Coffer or hoisted above it); any other becomes a path relative to the bundle.
 */
const nativeExternal = {
  name: 'native-external',
  setup(b) {
    b.onResolve({ filter: /\.node$/ }, (args) => {
      const abs = resolve(args.resolveDir, args.path);
      const inPackage = abs.lastIndexOf('/node_modules/');
      let spec = inPackage >= 0 ? abs.slice(inPackage + '/node_modules/'.length) : relative(outdir, abs);
      if (inPackage < 0 && !spec.startsWith('.')) spec = './' + spec;
      nativeAddons.push([spec, abs]);
      return { path: spec, external: true };
    });
  },
};

await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  define: { 'import.meta.url': '__cofferImportMetaUrl' },
  external: ['cpu-features'],
  plugins: [nativeExternal],
  logLevel: 'warning',
  legalComments: 'none',
  // The whole bundle strict, as it was when it ran as an ES module; import.meta.url as above.
  banner: {
    js: ['"use strict";', "const __cofferImportMetaUrl = require('node:url').pathToFileURL(__filename).href;"].join('\n'),
  },
});

// Every native addon ssh2 asked for must be loadable from the bundle's place, as it will be.
const req = createRequire(outfile);
for (const [spec, abs] of nativeAddons) {
  if (!existsSync(abs)) {
    // ssh2 builds its binding at install; when it could not, ssh2 works without it (slower).
    console.warn(`bundle-client: note: ${relative(root, abs)} is not built; ssh2 will use its JavaScript fallbacks`);
    continue;
  }
  if (req.resolve(spec) !== abs) {
    console.error(`bundle-client: the bundle's require('${spec}') would load ${req.resolve(spec)}, not ${abs}`);
    process.exit(1);
  }
}
if (!existsSync(join(outdir, 'hash-thread-worker.js'))) {
  console.error('bundle-client: dist/src/client/hash-thread-worker.js is missing beside the bundle');
  process.exit(1);
}

// Every ES module of the old layout gone, so that nothing stale is left beside the bundle.
rmSync(join(outdir, 'coffer.bundle.mjs'), { force: true });

// The code cache (scripts/write-code-cache.cjs), in a child so that the V8 flag it switches
// stays out of this process.
rmSync(cacheFile, { force: true });
const made = spawnSync(process.execPath, [join(root, 'scripts/write-code-cache.cjs'), outfile, cacheFile], { encoding: 'utf8' });
// The launcher reports on --debug whether V8 took the cache; a cache it refuses is removed.
const check = made.status === 0 ? spawnSync(process.execPath, [join(root, 'bin/coffer.js'), '--debug', '--version'], { encoding: 'utf8' }) : null;
if (!check || !/code cache: used/.test(check.stderr)) {
  rmSync(cacheFile, { force: true });
  const why = check ? check.stderr.trim() || `exit status ${check.status}` : made.stderr.trim();
  console.warn(`bundle-client: note: no code cache for the bundle (the client starts ~25 ms slower): ${why}`);
}
