/**
 * A small Prometheus registry (text exposition format 0.0.4): counters, gauges, histograms with
 * label sets bound once and cached, so the hot path does one Map lookup and an add. Each metric
 * caps its number of series; label sets past the cap share one series whose label values are all
 * `__overflow__`, so hostile label values cannot grow memory.
 */

export const DEFAULT_SERIES_CAP = 10_000;
export const OVERFLOW = "__overflow__";

function escapeValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** `a="x",b="y"` (no braces): computed once per series, when it is bound. */
function labelPairs(names: readonly string[], values: readonly string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < names.length; i++) parts.push(`${names[i]}="${escapeValue(values[i] ?? "")}"`);
  return parts.join(",");
}

/** `{pairs}`, `{pairs,extra}`, or nothing. */
function braces(pairs: string, extra?: string): string {
  if (extra) return pairs ? `{${pairs},${extra}}` : `{${extra}}`;
  return pairs ? `{${pairs}}` : "";
}

function num(n: number): string {
  return Number.isInteger(n) ? String(n) : n === Number.POSITIVE_INFINITY ? "+Inf" : String(n);
}

interface Series<C> {
  /** Rendered `name="value"` pairs. */
  pairs: string;
  child: C;
}

abstract class Metric<C> {
  protected readonly children = new Map<string, Series<C>>();
  private overflow: C | undefined;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly cap: number,
  ) {}

  protected abstract make(): C;

  /** The series for these label values (cached). */
  labels(...values: string[]): C {
    return this.labelsOf(values);
  }

  /** As `labels`, from an array (in label-name order). */
  labelsOf(values: readonly string[]): C {
    const key = values.length === 1 ? values[0]! : values.join("\u0001");
    const hit = this.children.get(key);
    if (hit) return hit.child;
    if (this.children.size >= this.cap) {
      this.overflow ??= this.make();
      return this.overflow;
    }
    const child = this.make();
    this.children.set(key, { pairs: labelPairs(this.labelNames, values), child });
    return child;
  }

  protected series(): Series<C>[] {
    const out = [...this.children.values()];
    if (this.overflow)
      out.push({
        pairs: labelPairs(
          this.labelNames,
          this.labelNames.map(() => OVERFLOW),
        ),
        child: this.overflow,
      });
    return out;
  }

  abstract render(out: string[]): void;

  protected header(out: string[], type: string): void {
    out.push(`# HELP ${this.name} ${this.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
    out.push(`# TYPE ${this.name} ${type}`);
  }
}

export class CounterChild {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class Counter extends Metric<CounterChild> {
  protected make(): CounterChild {
    return new CounterChild();
  }
  inc(n = 1): void {
    this.labels().inc(n);
  }
  render(out: string[]): void {
    this.header(out, "counter");
    for (const s of this.series()) out.push(`${this.name}${braces(s.pairs)} ${num(s.child.value)}`);
  }
}

export class GaugeChild {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
}

export class Gauge extends Metric<GaugeChild> {
  /** When set, the unlabelled value is read from it at render time. */
  collect: (() => number) | undefined;
  protected make(): GaugeChild {
    return new GaugeChild();
  }
  set(v: number): void {
    this.labels().set(v);
  }
  render(out: string[]): void {
    if (this.collect) this.labels().set(this.collect());
    this.header(out, "gauge");
    for (const s of this.series()) out.push(`${this.name}${braces(s.pairs)} ${num(s.child.value)}`);
  }
}

export class HistogramChild {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Array(bounds.length).fill(0);
  }
  observe(v: number): void {
    // Binary search for the first bound >= v (values above every bound count only in +Inf).
    const b = this.bounds;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v <= b[mid]!) hi = mid;
      else lo = mid + 1;
    }
    if (lo < b.length) this.counts[lo]!++;
    this.sum += v;
    this.count++;
  }
}

export class Histogram extends Metric<HistogramChild> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    cap: number,
    readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames, cap);
  }
  protected make(): HistogramChild {
    return new HistogramChild(this.buckets);
  }
  render(out: string[]): void {
    this.header(out, "histogram");
    for (const s of this.series()) {
      let cum = 0;
      this.buckets.forEach((le, i) => {
        cum += s.child.counts[i]!;
        out.push(`${this.name}_bucket${braces(s.pairs, `le="${num(le)}"`)} ${cum}`);
      });
      out.push(`${this.name}_bucket${braces(s.pairs, 'le="+Inf"')} ${s.child.count}`);
      out.push(`${this.name}_sum${braces(s.pairs)} ${num(s.child.sum)}`);
      out.push(`${this.name}_count${braces(s.pairs)} ${s.child.count}`);
    }
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric<unknown>[] = [];

  constructor(private readonly seriesCap = DEFAULT_SERIES_CAP) {}

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames, this.seriesCap));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames, this.seriesCap));
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
  ): Histogram {
    return this.add(new Histogram(name, help, labelNames, this.seriesCap, buckets));
  }

  private add<M extends Metric<unknown>>(m: M): M {
    this.metrics.push(m);
    return m;
  }

  render(): string {
    const out: string[] = [];
    for (const m of this.metrics) m.render(out);
    return `${out.join("\n")}\n`;
  }
}
