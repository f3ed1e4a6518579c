// The format of the client bundle's V8 code cache, shared by bin/coffer.js (which reads it) and
// scripts/write-code-cache.cjs (which writes it): MAGIC, the sha256 of the bundle's bytes, then
// V8's data for the bundle's source wrapped by wrap().
'use strict';

/** The cache file's first bytes. */
exports.MAGIC = Buffer.from('coffer-code-cache-1\n');

/** CommonJS's function around the bundle's source; the cache is compiled from exactly this. */
exports.wrap = (source) => `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
