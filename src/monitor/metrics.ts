/**
 * The server's Prometheus metrics (SPEC §8), kept in a prom-client Registry of their own and fed
 * by the server's events (events/events.ts). No label carries a user, a path or an address: label
 * values come from small fixed sets, so the series stay bounded whatever clients do. Every metric
 * works with prom-client's AggregatorRegistry (workers summed by the supervisor): counters and
 * histograms are summed; gauges too, except coffer_store_up, which takes the minimum (the server
 * is up only while every worker's store answers).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ServerEvent } from '../events/events.js';

/** Live figures the metrics read at scrape time. */
export interface MetricsSources {
  /** Open TCP connections (logged in or not). */
  connections(): number;
  /** Hook deliveries waiting to run. */
  hookQueue(): number;
}

const AUTH_METHODS = new Set(['password', 'publickey', 'keyboard-interactive', 'none', 'hostbased']);
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The metrics of one server process. */
export class CofferMetrics {
  readonly registry = new Registry();
  private readonly sessions: Gauge<'kind'>;
  private readonly auth: Counter<'method' | 'result'>;
  private readonly transfers: Counter<'direction' | 'outcome'>;
  private readonly transferBytes: Counter<'direction'>;
  private readonly quotaRefusals: Counter;
  private readonly bans: Counter;
  private readonly storeUp: Gauge;
  private readonly openFiles: Gauge;
  private readonly handshake: Histogram;
  private readonly login: Histogram;
  private readonly hooksDropped: Counter;
  private readonly hooksFailed: Counter<'kind'>;
  private readonly hooksDelivered: Counter<'kind'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    new Gauge({ name: 'coffer_connections', help: 'Open SSH connections (logged in or not)', registers, collect() { this.set(sources.connections()); } });
    this.sessions = new Gauge({ name: 'coffer_sessions', help: 'Open sessions by kind (sftp, scp, exec)', labelNames: ['kind'], registers });
    for (const kind of ['sftp', 'scp', 'exec']) this.sessions.set({ kind }, 0);
    this.auth = new Counter({ name: 'coffer_auth_attempts_total', help: 'Authentication attempts by method and result', labelNames: ['method', 'result'], registers });
    this.transfers = new Counter({ name: 'coffer_transfers_total', help: 'Files transferred, by direction and outcome', labelNames: ['direction', 'outcome'], registers });
    this.transferBytes = new Counter({ name: 'coffer_transfer_bytes_total', help: 'Bytes of file data transferred, by direction', labelNames: ['direction'], registers });
    for (const direction of ['upload', 'download']) this.transferBytes.inc({ direction }, 0);
    this.quotaRefusals = new Counter({ name: 'coffer_quota_refusals_total', help: 'Writes and creations refused because the quota is used', registers });
    this.bans = new Counter({ name: 'coffer_bans_total', help: 'Addresses banned by this process', registers });
    this.storeUp = new Gauge({ name: 'coffer_store_up', help: '1 while the store (SQLite or PostgreSQL) answers, else 0', registers, aggregator: 'min' });
    this.storeUp.set(1);
    this.openFiles = new Gauge({ name: 'coffer_open_files', help: 'Files open in SFTP and scp sessions', registers });
    this.handshake = new Histogram({ name: 'coffer_handshake_seconds', help: 'Time from accepting a connection to its first completed key exchange', buckets: LATENCY_BUCKETS, registers });
    this.login = new Histogram({ name: 'coffer_login_seconds', help: 'Time from accepting a connection to its accepted authentication', buckets: LATENCY_BUCKETS, registers });
    new Gauge({ name: 'coffer_hook_queue', help: 'Hook deliveries waiting to run', registers, collect() { this.set(sources.hookQueue()); } });
    this.hooksDropped = new Counter({ name: 'coffer_hooks_dropped_total', help: 'Hook deliveries dropped because the queue was full', registers });
    this.hooksFailed = new Counter({ name: 'coffer_hooks_failed_total', help: 'Hook deliveries that failed (exit status, timeout, HTTP error after retries)', labelNames: ['kind'], registers });
    this.hooksDelivered = new Counter({ name: 'coffer_hooks_delivered_total', help: 'Hook deliveries that succeeded (exit status 0, a 2xx answer)', labelNames: ['kind'], registers });
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters, which Prometheus' linter (promtool check metrics) refuses; the
    // same figures are in nodejs_active_handles{type}, nodejs_active_requests{type} and
    // nodejs_active_resources{type}.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
  }

  /** Counts one server event. */
  observe(e: ServerEvent): void {
    switch (e.event) {
      case 'handshake':
        return this.handshake.observe(e.seconds);
      case 'auth':
        return this.auth.inc({ method: AUTH_METHODS.has(e.method) ? e.method : 'other', result: e.result });
      case 'login':
        return this.login.observe(e.seconds);
      case 'ban':
        return this.bans.inc();
      case 'session-start':
        return this.sessions.inc({ kind: e.kind });
      case 'session-end':
        return this.sessions.dec({ kind: e.kind });
      case 'store':
        return this.storeUp.set(e.up ? 1 : 0);
      case 'file':
        return this.observeFile(e.file);
      default:
        return;
    }
  }

  private observeFile(f: Extract<ServerEvent, { event: 'file' }>['file']): void {
    if (f.event === 'file-open') this.openFiles.inc();
    else if (f.event === 'quota-refused') this.quotaRefusals.inc();
    else if (f.event === 'file-close') {
      this.openFiles.dec();
      if (f.transfer === null) return;
      this.transfers.inc({ direction: f.transfer, outcome: f.outcome });
      this.transferBytes.inc({ direction: f.transfer }, f.bytes);
    }
  }

  /** A hook delivery was dropped (queue full). */
  hookDropped(): void {
    this.hooksDropped.inc();
  }

  /** A hook delivery failed for good. */
  hookFailed(kind: 'run' | 'post'): void {
    this.hooksFailed.inc({ kind });
  }

  /** A hook delivery succeeded. */
  hookDelivered(kind: 'run' | 'post'): void {
    this.hooksDelivered.inc({ kind });
  }

  /** The text format (what GET /metrics serves). */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
