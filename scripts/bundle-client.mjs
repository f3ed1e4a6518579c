#!/usr/bin/env node
// Bundles the compiled client (dist/src/cli/client/main.js and everything it imports, ssh2 and the
// other packages included) into one file, dist/src/client/coffer.bundle.mjs, which bin/coffer.js
// runs. Node 20 spends ~80 ms resolving, reading and linking the ~150 files of an unbundled start;
// the bundle starts `coffer ls` in ~0.13 s instead of ~0.21 s. Run by `npm run build` after tsc,
// so the bundle is always made from the dist/ next to it.
//
// What stays outside the bundle, loaded from node_modules at run time:
// - native addons (*.node): ssh2's crypto binding is required by its package path; without it
//   ssh2 would fall back to slower ciphers silently, so this script checks that it resolves.
// - cpu-features (a native addon package ssh2 uses to order ciphers).
// The bundle sits in dist/src/client/ so that `new URL('./hash-thread-worker.js', import.meta.url)`
// (the hash thread) still finds the compiled worker beside it.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist/src/cli/client/main.js');
const outfile = join(root, 'dist/src/client/coffer.bundle.mjs');
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
  format: 'esm',
  target: 'node20',
  external: ['cpu-features'],
  plugins: [nativeExternal],
  logLevel: 'warning',
  legalComments: 'none',
  // CommonJS code in the bundle (ssh2 and others) expects these.
  banner: {
    js: [
      "import { createRequire as __cofferCreateRequire } from 'node:module';",
      "import { fileURLToPath as __cofferFileURLToPath } from 'node:url';",
      "import { dirname as __cofferDirname } from 'node:path';",
      'const require = __cofferCreateRequire(import.meta.url);',
      'const __filename = __cofferFileURLToPath(import.meta.url);',
      'const __dirname = __cofferDirname(__filename);',
    ].join('\n'),
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
