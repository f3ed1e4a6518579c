#!/usr/bin/env node
// `npm run cluster`: a Coffer deployment on this machine to try docs/deployment.md: a throwaway
// PostgreSQL, 3 coffer-server nodes sharing one state root (keys/, homes/) and one database, and
// HAProxy in front (send-proxy-v2, TCP health checks), all on 127.0.0.1 and free ports. Creates the
// user `demo`, prints how to connect and how to drain a node, and stops everything by PID on
// Ctrl-C (or SIGTERM), removing the state root and the database's folder as it exits. The processes are the deployment test's (test/support/cluster.ts, compiled
// to dist/ by `npm run build`); PostgreSQL 15 (Debian `postgresql`) and `haproxy` must be
// installed, and PostgreSQL is run as the `postgres` user when this runs as root.
//
//   npm run cluster [-- --nodes N] [--port P] [--workers N]
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    port: { type: 'string' },
    workers: { type: 'string', default: '1' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  process.stdout.write('Usage: npm run cluster [-- --nodes N] [--port P] [--workers N]\n  PostgreSQL, N coffer-server nodes (default 3, each with --workers N) and HAProxy on 127.0.0.1:P (default: a free port).\n');
  process.exit(0);
}
const nodeCount = Number(values.nodes);
const port = values.port === undefined ? undefined : Number(values.port);
if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 16 || (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))) {
  process.stderr.write('cluster: --nodes takes 1 to 16, --port a port number\n');
  process.exit(2);
}

const support = await import(new URL('../dist/test/support/cluster.js', import.meta.url).href).catch((err) => {
  process.stderr.write(`cluster: cannot load dist/test/support/cluster.js (run \`npm run build\` first): ${err.message}\n`);
  process.exit(2);
});
const { haproxyInstalled, startDeployment } = support;
const { postgresInstalled } = await import(new URL('../dist/test/support/postgres.js', import.meta.url).href);
const missing = [haproxyInstalled() ? '' : 'haproxy', postgresInstalled() ? '' : 'postgresql (15)'].filter(Boolean);
if (missing.length > 0) {
  process.stderr.write(`cluster: needs ${missing.join(' and ')} (Debian: apt-get install ${missing.map((m) => m.split(' ')[0]).join(' ')})\n`);
  process.exit(1);
}

const PASSWORD = 'demo-password';
process.stderr.write(`cluster: starting PostgreSQL, ${nodeCount} nodes and HAProxy...\n`);
let dep;
let stopping = false;
const stop = async (why) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`\ncluster: ${why}: stopping HAProxy, the nodes (they drain) and PostgreSQL...\n`);
  await dep?.stop();
  process.stderr.write('cluster: stopped\n');
  process.exit(0);
};
// Ctrl-C reaches the whole process group; each node drains on its own SIGINT, and stop() finds it gone.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => void stop(sig));
try {
  dep = await startDeployment({
    nodes: nodeCount,
    port,
    nodeFlags: ['--workers', values.workers],
    inter: '1s',
    fall: 2,
    rise: 2,
  });
} catch (err) {
  process.stderr.write(`cluster: error: ${err.message.split('\n')[0]}\n`);
  process.exit(1);
}
if (stopping) await new Promise(() => {}); // a signal came during the start: stop() exits
dep.addUser('demo', PASSWORD);

// Warnings and errors of the nodes, as they come.
dep.nodes.forEach((node, i) => {
  let partial = '';
  node.child.stdout.on('data', (d) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop();
    for (const line of parts) {
      try {
        const j = JSON.parse(line);
        if (j.level >= 40) process.stderr.write(`node${i + 1}: ${j.event ?? ''} ${j.msg ?? ''}\n`);
      } catch {
        /* not JSON */
      }
    }
  });
  void node.exited.then(({ code, signal }) => !stopping && process.stderr.write(`cluster: node${i + 1} (pid ${node.child.pid}) exited (${signal ?? `code ${code}`}); HAProxy sends new connections to the others\n`));
});
dep.haproxy.child.once('exit', () => void stop('HAProxy exited'));

const hp = dep.haproxy.port;
const rows = dep.nodes.map((n, i) => `  node${i + 1}: 127.0.0.1:${n.port}  pid ${n.child.pid}   drain: kill -TERM ${n.child.pid}`);
process.stdout.write(
  [
    '',
    `Coffer cluster: HAProxy on 127.0.0.1:${hp} (pid ${dep.haproxy.child.pid}) in front of ${dep.nodes.length} nodes`,
    ...rows,
    `  PostgreSQL (throwaway; the nodes' database setting): ${dep.database} (pid ${dep.pg.pid})`,
    `  state root (keys/, homes/): ${dep.root}`,
    `  haproxy.cfg: ${dep.root}/haproxy.cfg`,
    '',
    `User demo, password ${PASSWORD}:`,
    `  sftp -P ${hp} -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no demo@127.0.0.1`,
    `  COFFER_PASSWORD=${PASSWORD} node bin/coffer.js -P ${hp} --accept-new-host-key ls -l demo@127.0.0.1`,
    `More users: node bin/coffer-users.js --root ${dep.root} --database '${dep.database}' add NAME`,
    '',
    'Ctrl-C stops everything.',
    '',
  ].join('\n'),
);
