/**
 * A small mergeable latency histogram: logarithmic buckets 1% wide, in microseconds. Workers fill
 * one each and send it to the orchestrator as JSON, which merges them and reads percentiles.
 */
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);

export interface HistogramJSON {
  /** [bucket index, count] pairs */
  buckets: [number, number][];
  count: number;
  sumUs: number;
  maxUs: number;
}

export class Histogram {
  private readonly buckets = new Map<number, number>();
  count = 0;
  sumUs = 0;
  maxUs = 0;

  record(us: number): void {
    const index = us < 1 ? 0 : Math.floor(Math.log(us) / LOG_GROWTH) + 1;
    this.buckets.set(index, (this.buckets.get(index) ?? 0) + 1);
    this.count++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  merge(other: Histogram | HistogramJSON): this {
    const json = other instanceof Histogram ? other.toJSON() : other;
    for (const [index, n] of json.buckets) this.buckets.set(index, (this.buckets.get(index) ?? 0) + n);
    this.count += json.count;
    this.sumUs += json.sumUs;
    this.maxUs = Math.max(this.maxUs, json.maxUs);
    return this;
  }

  /** The value (us) below which a fraction `q` (0..1) of the samples lie; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    if (rank >= this.count) return this.maxUs;
    let seen = 0;
    for (const index of [...this.buckets.keys()].sort((a, b) => a - b)) {
      seen += this.buckets.get(index)!;
      if (seen >= rank) return Math.min(this.maxUs, index === 0 ? 1 : GROWTH ** (index - 1) * Math.sqrt(GROWTH));
    }
    return this.maxUs;
  }

  toJSON(): HistogramJSON {
    return { buckets: [...this.buckets.entries()], count: this.count, sumUs: this.sumUs, maxUs: this.maxUs };
  }

  static from(json: HistogramJSON): Histogram {
    return new Histogram().merge(json);
  }
}

/** Latency summary in milliseconds. */
export interface Latency {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export function summarize(h: Histogram): Latency {
  const ms = (us: number) => Math.round(us) / 1000;
  return { p50: ms(h.quantile(0.5)), p99: ms(h.quantile(0.99)), p999: ms(h.quantile(0.999)), max: ms(h.maxUs), mean: ms(h.count ? h.sumUs / h.count : 0) };
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes of one machine. */
export const wallMs = (): number => performance.timeOrigin + performance.now();
