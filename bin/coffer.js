#!/usr/bin/env node
// Runs the client bundle (scripts/bundle-client.mjs, made by `npm run build` after tsc): one file
// starts ~80 ms sooner than the ~150 modules it holds. When the bundle is missing or older than
// the compiled modules (tsc, which rewrites every output, was run alone), those modules run
// directly: slower, never stale.
import { statSync } from 'node:fs';

const bundle = new URL('../dist/src/client/coffer.bundle.mjs', import.meta.url);
const modules = new URL('../dist/src/cli/client/main.js', import.meta.url);
const mtime = (url) => statSync(url, { throwIfNoEntry: false })?.mtimeMs ?? -1;
const entry = mtime(bundle) >= mtime(modules) && mtime(bundle) > 0 ? bundle : modules;
import(entry.href).catch((err) => { console.error('coffer: error: cannot load the built program (run npm install, which builds dist/): ' + err.message); process.exit(1); });
