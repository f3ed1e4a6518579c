/**
 * The PROXY protocol at the door (SPEC §7 "Several nodes"). A socket from a trusted balancer
 * (setting proxyProtocol) must start with a header, read here before ssh2 sees a byte; the socket
 * then reports the header's client as its peer, so admission (bans, caps), ssh2's `info.ip` and
 * every log line see the client. A socket from anywhere else goes to ssh2 at once (the server's
 * banner is not delayed) and is closed if its first bytes are a PROXY signature: only a configured
 * list may decide that a header is present (doc/proxy-protocol.txt §5).
 */
import { isIP, type Socket } from 'node:net';
import type { CidrList } from '../../util/cidr.js';
import { normalizeAddress } from '../address-key.js';
import type { ConnectionRecord } from '../limits.js';
import type { ServerState } from '../server-state.js';
import { ProxyHeaderParser, startsWithProxySignature, type ProxyEndpoint, type ProxyHeader, type ProxyHeaderError } from './header.js';

/** Admission then ssh2 (server.ts); returns the connection's record, or null when admission refused it. */
export type HandOff = (socket: Socket) => ConnectionRecord | null;

/** Why a connection was refused here (logged as `reason` of `proxy.refused`), besides the parser's reasons. */
export type GateRefusal = 'untrusted-source' | 'timeout' | 'truncated' | 'no-header' | 'busy' | 'duplicate-peer';

/** Longest signature looked for on untrusted connections (the v2 one). */
const SIGNATURE_PEEK = 12;

/** Routes every accepted socket through the header rules; one per server. */
export class ProxyGate {
  /** Sockets from balancers whose header has not arrived yet, with what stops the wait. */
  private readonly pending = new Map<Socket, () => void>();

  constructor(
    private readonly state: ServerState,
    private readonly trusted: CidrList,
    private readonly handOff: HandOff,
  ) {}

  /** Takes a freshly accepted socket. */
  accept(socket: Socket): void {
    socket.on('error', () => {}); // a reset while we read the header is just a close
    const peer = normalizeAddress(socket.remoteAddress);
    if (this.trusted.contains(peer)) return this.readHeader(socket, peer);
    const rec = this.handOff(socket);
    if (rec && !socket.destroyed) refuseSignature(socket, rec);
  }

  /** Destroys the sockets still waiting for their header (shutdown: they are not in the table yet). */
  close(): void {
    for (const [socket, stop] of this.pending) {
      stop();
      socket.destroy();
    }
  }

  /** Reads the header with a deadline (loginGraceSeconds) and a byte cap, then hands the socket on. */
  private readHeader(socket: Socket, balancer: string): void {
    const port = socket.remotePort ?? 0;
    if (this.state.closing) return void socket.destroy();
    // Bounded like the table: a balancer cannot park more sockets here than maxConnections.
    if (this.pending.size >= this.state.config.maxConnections) return this.refuse(socket, balancer, port, 'busy', 0);
    const parser = new ProxyHeaderParser();
    const stop = () => {
      clearTimeout(timer);
      socket.off('data', onData).off('end', onGone).off('close', onGone);
      this.pending.delete(socket);
    };
    const fail = (reason: GateRefusal | ProxyHeaderError) => {
      stop();
      this.refuse(socket, balancer, port, reason, parser.consumed);
    };
    const onData = (chunk: Buffer) => {
      const step = parser.feed(chunk);
      if (step.kind === 'more') return;
      if (step.kind === 'error') return fail(step.reason);
      socket.pause(); // before the listener goes: a flowing socket without one would drop data
      stop();
      // The client's first SSH bytes may have come with the header: ssh2 reads them first.
      if (step.rest.length > 0) socket.unshift(step.rest);
      this.pass(socket, balancer, step.header);
    };
    const onGone = () => fail(parser.consumed === 0 ? 'no-header' : 'truncated');
    const timer = setTimeout(() => fail('timeout'), this.state.config.loginGraceSeconds * 1000);
    socket.on('data', onData).once('end', onGone).once('close', onGone);
    this.pending.set(socket, stop);
  }

  /** A valid header: the socket takes the client's address (LOCAL, UNKNOWN: its own), then admission and ssh2. */
  private pass(socket: Socket, balancer: string, header: ProxyHeader): void {
    if (header.source) {
      const client = clientEndpoint(header.source);
      // The table keys connections by peer; a second connection claiming the same one is refused.
      if (this.state.table.find(client.address, client.port)) return this.refuse(socket, balancer, socket.remotePort ?? 0, 'duplicate-peer', header.length);
      setPeer(socket, client);
    }
    const rec = this.handOff(socket);
    if (!rec) return;
    rec.log = rec.log.child({ via: balancer });
    const { version, command, family, destination } = header;
    rec.log.debug({ event: 'proxy.header', port: rec.port, version, command, family, destination }, 'PROXY header accepted');
  }

  private refuse(socket: Socket, balancer: string, port: number, reason: GateRefusal | ProxyHeaderError, bytes: number): void {
    const level = reason === 'no-header' ? 'info' : 'warn';
    const hint = reason === 'not-proxy' ? ' (is send-proxy / send-proxy-v2 set on the balancer?)' : '';
    this.state.log[level]({ event: 'proxy.refused', address: balancer, port, reason, bytes }, `PROXY header from ${balancer} refused: ${reason}${hint}`);
    socket.destroy();
  }
}

/** The header's client as this server names peers: IPv4-mapped IPv6 becomes IPv4 (address-key.ts normalizeAddress). */
function clientEndpoint(source: ProxyEndpoint): ProxyEndpoint & { family: 'IPv4' | 'IPv6' } {
  const address = normalizeAddress(source.address);
  return { address, port: source.port, family: isIP(address) === 4 ? 'IPv4' : 'IPv6' };
}

/**
 * Makes the socket report the client as its peer. ssh2's Server reads socket.remoteAddress,
 * remoteFamily and remotePort for the `info` of its 'connection' event (lib/server.js, onHeader),
 * and admitSocket reads them too; own properties shadow net.Socket's getters. (ssh2's maintainer
 * declined PROXY support in ssh2 and added injectSocket for this: ssh2#1027.)
 */
function setPeer(socket: Socket, client: ReturnType<typeof clientEndpoint>): void {
  Object.defineProperties(socket, {
    remoteAddress: { value: client.address, configurable: true },
    remotePort: { value: client.port, configurable: true },
    remoteFamily: { value: client.family, configurable: true },
  });
}

/**
 * Checks the first bytes of a connection from an unlisted address and closes it on a PROXY
 * signature. The check sits in the socket's own push (where net.Socket hands each read to its
 * readable side), so ssh2 never sees a byte of a header: its parser would otherwise reject the
 * v2 signature's leading CRLF as a client greeting and drop every 'data' listener, ours included,
 * before the signature is complete. Bytes that may still start a signature (at most 11) are held
 * back until it is decided; an SSH client's "SSH-" is decided at its first byte, and ssh2's banner
 * goes out regardless, so nothing normal waits. The socket's push is restored once decided.
 */
function refuseSignature(socket: Socket, rec: ConnectionRecord): void {
  const push = socket.push;
  let held: Buffer = Buffer.alloc(0);
  const restore = () => void delete (socket as { push?: unknown }).push; // back to Readable.prototype.push
  socket.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (!Buffer.isBuffer(chunk)) {
      restore(); // end of stream (null): what was held goes first
      if (held.length > 0) push.call(socket, held);
      return push.call(socket, chunk, encoding);
    }
    held = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
    const verdict = startsWithProxySignature(held.subarray(0, SIGNATURE_PEEK));
    if (verdict === undefined) return true;
    restore();
    if (verdict) {
      rec.log.warn({ event: 'proxy.refused', port: rec.port, reason: 'untrusted-source' }, `PROXY header from ${rec.address}, which is not in proxyProtocol: connection closed`);
      rec.ending = true;
      socket.destroy();
      return false;
    }
    const out = held;
    held = Buffer.alloc(0);
    return push.call(socket, out, encoding);
  };
}
