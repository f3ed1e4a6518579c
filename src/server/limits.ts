/**
 * The table of open connections and the caps on it (SPEC §3): maxConnections in all,
 * maxConnectionsPerIp per address key, maxSessionsPerUser authenticated connections per user.
 * ssh2 itself caps nothing (its Server.maxConnections is Infinity), so every socket passes here
 * before ssh2 sees a byte.
 */
import type { Socket } from 'node:net';
import type { Connection } from 'ssh2';
import type { Logger } from '../util/logger.js';

/** One open TCP connection, from accept to close. */
export interface ConnectionRecord {
  id: number;
  /** The peer's address as logged (IPv4-mapped IPv6 as IPv4). */
  address: string;
  /** What limits and bans count it under (address-key.ts: the IPv4 address, or the IPv6 /64). */
  key: string;
  port: number;
  socket: Socket;
  log: Logger;
  startedAt: number;
  /** Last incoming channel data or request (idle timeout). */
  lastActivity: number;
  /** ssh2's connection object, once the client sent its identification line. */
  client?: Connection;
  /** Set when authentication succeeded. */
  user?: string;
  /** Failed authentication attempts on this connection (maxAuthTries). */
  failures: number;
  /** Failures already counted toward a ban of the address. */
  banFailures: number;
  /** Open session channels. */
  sessions: Set<SessionRecord>;
  /** Aborted when the connection must end (shutdown, user disabled or removed). */
  abort: AbortController;
  /** True once we decided to end it. */
  ending: boolean;
}

/** One open session channel (what shutdown waits for). */
export interface SessionRecord {
  lastActivity: number;
  /** A handler may say whether work is in progress (open transfer); default: recent activity. */
  isBusy?: () => boolean;
}

/** Why a new connection is refused. */
export type AdmitRefusal = 'max-connections' | 'max-connections-per-ip';

/** Caps the table enforces. */
export interface ConnectionCaps {
  maxConnections: number;
  maxConnectionsPerIp: number;
  maxSessionsPerUser: number;
}

/** Every open connection, by peer, by address key and by user. */
export class ConnectionTable {
  private readonly byPeer = new Map<string, ConnectionRecord>();
  private readonly perAddress = new Map<string, number>();
  private readonly perUser = new Map<string, Set<ConnectionRecord>>();

  constructor(private readonly caps: ConnectionCaps) {}

  get size(): number {
    return this.byPeer.size;
  }

  /** Null when one more connection from address key `key` is allowed, else why not. */
  admit(key: string): AdmitRefusal | null {
    if (this.byPeer.size >= this.caps.maxConnections) return 'max-connections';
    if ((this.perAddress.get(key) ?? 0) >= this.caps.maxConnectionsPerIp) return 'max-connections-per-ip';
    return null;
  }

  add(rec: ConnectionRecord): void {
    this.byPeer.set(peerKey(rec.address, rec.port), rec);
    this.perAddress.set(rec.key, (this.perAddress.get(rec.key) ?? 0) + 1);
  }

  remove(rec: ConnectionRecord): void {
    if (this.byPeer.get(peerKey(rec.address, rec.port)) !== rec) return;
    this.byPeer.delete(peerKey(rec.address, rec.port));
    const n = (this.perAddress.get(rec.key) ?? 1) - 1;
    if (n > 0) this.perAddress.set(rec.key, n);
    else this.perAddress.delete(rec.key);
    if (rec.user) this.perUser.get(rec.user)?.delete(rec);
    if (rec.user && this.perUser.get(rec.user)?.size === 0) this.perUser.delete(rec.user);
  }

  /** The connection of a peer (ssh2 reports the peer's address and port, not the socket). */
  find(address: string, port: number): ConnectionRecord | undefined {
    return this.byPeer.get(peerKey(address, port));
  }

  /** True when `user` may have one more authenticated connection. */
  userHasRoom(user: string): boolean {
    return (this.perUser.get(user)?.size ?? 0) < this.caps.maxSessionsPerUser;
  }

  /** Marks a connection as logged in as `user`. */
  setUser(rec: ConnectionRecord, user: string): void {
    rec.user = user;
    let set = this.perUser.get(user);
    if (!set) this.perUser.set(user, (set = new Set()));
    set.add(rec);
  }

  /** Users with at least one open authenticated connection. */
  users(): string[] {
    return [...this.perUser.keys()];
  }

  /** The authenticated connections of `user`. */
  connectionsOf(user: string): ConnectionRecord[] {
    return [...(this.perUser.get(user) ?? [])];
  }

  all(): ConnectionRecord[] {
    return [...this.byPeer.values()];
  }
}

function peerKey(address: string, port: number): string {
  return `${address}|${port}`;
}
