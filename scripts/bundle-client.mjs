#!/usr/bin/env node
// Bundles the compiled client (dist/src/cli/client/main.js and everything it imports, ssh2 and the
// other packages included) into one file, dist/src/client/coffer.bundle.mjs, which bin/coffer.js
// runs. Node 20 spends ~80 ms resolving, reading and linking the ~150 files of an unbundled start;
// the bundle starts `coffer ls` in ~0.13 s instead of ~0.21 s. Run by `npm run build` after tsc,
// so the bundle is always made from the dist/ next to it.
//
// What stays outside the bundle, loaded from node_modules at run time:
// - native addons (*.node): ssh2's crypto binding is required by a path relative to the bundle;
//   without it ssh2 would fall back to slower ciphers silently, so this script checks it resolves.
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

const nativeAddons = [];
/** Keeps *.node requires external, rewritten relative to the bundle's folder. */
const nativeRelative = {
  name: 'native-relative',
  setup(b) {
    b.onResolve({ filter: /\.node$/ }, (args) => {
      const abs = resolve(args.resolveDir, args.path);
      nativeAddons.push(abs);
      let rel = relative(outdir, abs);
      if (!rel.startsWith('.')) rel = './' + rel;
      return { path: rel, external: true };
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
  plugins: [nativeRelative],
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
for (const abs of nativeAddons) {
  const rel = relative(outdir, abs);
  if (!existsSync(abs)) {
    // ssh2 builds its binding at install; when it could not, ssh2 works without it (slower).
    console.warn(`bundle-client: note: ${relative(root, abs)} is not built; ssh2 will use its JavaScript fallbacks`);
    continue;
  }
  req.resolve(rel.startsWith('.') ? rel : './' + rel);
}
if (!existsSync(join(outdir, 'hash-thread-worker.js'))) {
  console.error('bundle-client: dist/src/client/hash-thread-worker.js is missing beside the bundle');
  process.exit(1);
}
