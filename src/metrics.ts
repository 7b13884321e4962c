import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The process's Prometheus metrics. `serve` has everything in one process; a separate `worker` exposes its
 * own on METRICS_PORT. Connector ids are the only per-connector label (bounded by the number of connectors).
 */
export const registry = new Registry();
// prom-client's names already say process_ or nodejs_: the prefix only adds ours (qanatix_process_cpu_seconds_total).
// The event-loop delay is sampled every 100 ms, not every 10 ms as by default: each sample wakes the process, and a
// hundred wake-ups a second cost an idle worker 4-5 ms of CPU a second (0.25 ms per run of a fleet's minute). A delay
// worth an alert (a stalled loop) still shows.
collectDefaultMetrics({ register: registry, prefix: 'qanatix_', eventLoopMonitoringPrecision: 100 });

export const pullsTotal = new Counter({
  name: 'qanatix_pulls_total',
  help: 'Connector runs by outcome (succeeded, failed, retrying, skipped, interrupted)',
  labelNames: ['connector_id', 'outcome'] as const,
  registers: [registry],
});

export const pullRowsTotal = new Counter({
  name: 'qanatix_pull_rows_total',
  help: 'Source rows by what became of them (read, inserted, updated, unchanged, rejected), and entities deleted and undeleted',
  labelNames: ['connector_id', 'kind'] as const,
  registers: [registry],
});

export const pullDuration = new Histogram({
  name: 'qanatix_pull_duration_seconds',
  help: 'Duration of connector runs that finished',
  labelNames: ['connector_id'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600],
  registers: [registry],
});

export const cursorLag = new Gauge({
  name: 'qanatix_connector_cursor_lag_seconds',
  help: "How far a connector's committed timestamp cursor is behind the source clock at the end of its last run",
  labelNames: ['connector_id'] as const,
  registers: [registry],
});

export const verifyDrift = new Gauge({
  name: 'qanatix_connector_verify_drift',
  help: "What a connector's last verify run found, by kind (checked, missing, extra, stale): 0 missing, extra and stale is a mirror that holds",
  labelNames: ['connector_id', 'kind'] as const,
  registers: [registry],
});

export const notificationsTotal = new Counter({
  name: 'qanatix_notifications_total',
  help: 'Failure notification attempts by outcome (delivered, retrying, failed: given up, refused: its URL may not be called)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const ingestRecordsTotal = new Counter({
  name: 'qanatix_ingest_records_total',
  help: 'Records through the ingestion core by intake (batch, webhook, stream, connector) and outcome',
  labelNames: ['source', 'outcome'] as const,
  registers: [registry],
});

export const httpDuration = new Histogram({
  name: 'qanatix_http_request_duration_seconds',
  help: 'HTTP request duration by route and status code',
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const queueJobs = new Gauge({
  name: 'qanatix_queue_jobs',
  help: 'Jobs in each queue by state',
  labelNames: ['queue', 'state'] as const,
  registers: [registry],
});

export const scheduleMissedTotal = new Counter({
  name: 'qanatix_schedule_missed_total',
  help: "Fires of a connector's schedule that never became a run, recorded as missed runs",
  labelNames: ['connector_id'] as const,
  registers: [registry],
});
