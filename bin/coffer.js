#!/usr/bin/env node
import('../dist/src/cli/client/main.js').catch((err) => { console.error('coffer: error: cannot load the built program (run npm install, which builds dist/): ' + err.message); process.exit(1); });
