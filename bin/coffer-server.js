#!/usr/bin/env node
import('../dist/src/cli/server/main.js').catch((err) => { console.error('coffer-server: error: cannot load the built program (run npm install, which builds dist/): ' + err.message); process.exit(1); });
