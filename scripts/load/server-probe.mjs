// Preloaded into the Coffer server by scripts/load.mjs (node --import): once a second, appends the
// server's event-loop delay over that second (p50, p99, max in ms, net of the 10 ms sampling
// interval) to the file named by LOAD_PROBE_FILE. Touches nothing of the server's own.
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.LOAD_PROBE_FILE;
if (file) {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const lag = (ns) => Math.max(0, ns / 1e6 - 10);
  const t = setInterval(() => {
    try {
      appendFileSync(file, JSON.stringify({ at: Date.now(), p50: lag(h.percentile(50)), p99: lag(h.percentile(99)), max: lag(h.max) }) + '\n');
    } catch { /* the run is over */ }
    h.reset();
  }, 1000);
  t.unref();
}
