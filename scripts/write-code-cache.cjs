#!/usr/bin/env node
// usage: node scripts/write-code-cache.cjs BUNDLE CACHE
// Writes the V8 code cache bin/coffer.js runs the client bundle with (scripts/bundle-client.mjs
// calls this after bundling). Every function of BUNDLE is compiled, none of it run: V8's lazy
// compilation is switched off only while this process compiles it, so the cache still carries the
// default flags' hash and a normal `node` accepts it.
//
// CACHE is MAGIC, the sha256 of BUNDLE's bytes, then V8's data (bin/code-cache.cjs, shared with
// bin/coffer.js). bin/coffer.js uses the data only when that hash is the bundle's (V8 itself checks
// no more than the source's length: a changed bundle of the same length would run the old code)
// and V8 accepts it (same Node version and flags); otherwise it compiles the bundle as usual.
'use strict';
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const { createHash } = require('node:crypto');
const { Script } = require('node:vm');
const v8 = require('node:v8');

const { MAGIC, wrap } = require('../bin/code-cache.cjs');
const [bundle, cache] = process.argv.slice(2);
if (!bundle || !cache) {
  process.stderr.write('usage: node scripts/write-code-cache.cjs BUNDLE CACHE\n');
  process.exit(2);
}
const bytes = readFileSync(bundle);
v8.setFlagsFromString('--no-lazy');
const script = new Script(wrap(bytes.toString('utf8')), { filename: bundle });
v8.setFlagsFromString('--lazy');
writeFileSync(cache + '.tmp', Buffer.concat([MAGIC, createHash('sha256').update(bytes).digest(), script.createCachedData()]));
renameSync(cache + '.tmp', cache);
