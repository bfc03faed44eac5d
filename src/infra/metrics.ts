import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One Prometheus registry per process (not the library's global one, so several apps can live in one test
 * process). Modules add their own metrics through `registry`.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly socketsConnected: Gauge;
  readonly socketEvents: Counter<'event' | 'outcome'>;
  readonly dbPool: Gauge<'state'>;

  constructor(opts: {
    defaultMetrics: boolean;
    poolStats?: () => { total: number; idle: number; waiting: number };
  }) {
    if (opts.defaultMetrics) {
      // Includes nodejs_eventloop_lag_seconds and its percentiles, heap, GC and handle counts.
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
    }
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.socketsConnected = new Gauge({
      name: 'socketio_connected_sockets',
      help: 'Socket.IO clients connected to this process',
      registers: [this.registry],
    });
    this.socketEvents = new Counter({
      name: 'socketio_events_total',
      help: 'Client events handled, by event name and outcome',
      labelNames: ['event', 'outcome'],
      registers: [this.registry],
    });
    const poolStats = opts.poolStats;
    this.dbPool = new Gauge({
      name: 'db_pool_connections',
      help: 'Database connections by state (total, idle, waiting clients)',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        if (!poolStats) return;
        const s = poolStats();
        this.set({ state: 'total' }, s.total);
        this.set({ state: 'idle' }, s.idle);
        this.set({ state: 'waiting' }, s.waiting);
      },
    });
  }
}
