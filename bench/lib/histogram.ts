/**
 * A latency histogram in the HDR style, in one typed array: exact below 256 µs, then 128 buckets per power of
 * two (under 0.8 % relative error) up to about 36 minutes. Recording allocates nothing, so a load generator
 * recording tens of thousands of samples a second adds no garbage of its own to the process it measures from;
 * histograms from several processes merge by adding counts.
 */
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS;
const LINEAR = 2 * SUB;
const MAX_EXPONENT = 24;
const BUCKETS = LINEAR + MAX_EXPONENT * SUB;
const MAX_MICROS = (2 * SUB - 1) * 2 ** MAX_EXPONENT;

/** Sparse form for IPC and reports: pairs of bucket index and count. */
export type SparseHistogram = [number, number][];

export interface Percentiles {
  count: number;
  /** Milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function indexOf(micros: number): number {
  const v = Math.min(MAX_MICROS, Math.max(0, Math.floor(micros)));
  if (v < LINEAR) return v;
  const exponent = 31 - Math.clz32(v) - SUB_BITS;
  return LINEAR + (exponent - 1) * SUB + ((v >>> exponent) - SUB);
}

/** The highest value a bucket holds, so a percentile is never reported lower than what was measured. */
function upperOf(index: number): number {
  if (index < LINEAR) return index;
  const exponent = Math.floor((index - LINEAR) / SUB) + 1;
  const mantissa = ((index - LINEAR) % SUB) + SUB;
  return (mantissa + 1) * 2 ** exponent - 1;
}

export class Histogram {
  private counts = new Uint32Array(BUCKETS);
  private total = 0;
  private maxMicros = 0;

  /** Records one latency in milliseconds (fractions kept to the microsecond). */
  record(ms: number): void {
    const micros = ms * 1000;
    this.counts[indexOf(micros)]!++;
    this.total++;
    if (micros > this.maxMicros) this.maxMicros = micros;
  }

  get count(): number {
    return this.total;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.maxMicros = 0;
  }

  toSparse(): SparseHistogram {
    const out: SparseHistogram = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) out.push([i, this.counts[i]!]);
    // The exact maximum travels as a pseudo-bucket, so merging keeps it exact.
    if (this.total > 0) out.push([-1, Math.round(this.maxMicros)]);
    return out;
  }

  add(sparse: SparseHistogram): void {
    for (const [index, count] of sparse) {
      if (index === -1) {
        this.maxMicros = Math.max(this.maxMicros, count);
        continue;
      }
      this.counts[index]! += count;
      this.total += count;
    }
  }

  /** Value (ms) at or below which `q` of the samples lie. */
  quantile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperOf(i), this.maxMicros) / 1000;
    }
    return this.maxMicros / 1000;
  }

  percentiles(): Percentiles {
    return {
      count: this.total,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      max: this.total === 0 ? Number.NaN : this.maxMicros / 1000,
    };
  }

  static merge(parts: SparseHistogram[]): Histogram {
    const h = new Histogram();
    for (const p of parts) h.add(p);
    return h;
  }
}
