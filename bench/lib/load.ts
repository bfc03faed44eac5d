import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  connections: number;
  durationSec: number;
  method?: autocannon.Request['method'];
  headers?: Record<string, string>;
  body?: string;
  /** Per-connection request sequence, for flows that carry state from one call to the next. */
  requests?: autocannon.Request[];
}

export interface LoadResult {
  reqPerSec: number;
  /** Latency in milliseconds. */
  p50: number;
  p99: number;
  requests: number;
  /** Connection errors and timeouts. */
  errors: number;
  non2xx: number;
}

/**
 * One autocannon run in this process (on the load core when pinned). Without pipelining, so a request's latency
 * is what a client would see.
 */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.durationSec,
    method: opts.method ?? 'GET',
    ...(opts.headers ? { headers: opts.headers } : {}),
    ...(opts.body === undefined ? {} : { body: opts.body }),
    ...(opts.requests ? { requests: opts.requests } : {}),
  });
  return {
    reqPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

/** Warms the JIT, connection pools and caches; the figures are thrown away. */
export async function warmUp(opts: LoadOptions): Promise<void> {
  if (opts.durationSec > 0) await runLoad(opts);
}
