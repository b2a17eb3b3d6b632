/**
 * Optional tracing: one span per hop with `lane`, `subset` and `fallback` attributes, exported by
 * the OpenTelemetry SDK configured from the standard `OTEL_*` variables. Off by default; turned on
 * by `OTEL_TRACES_EXPORTER` (e.g. `otlp`, `console`) or `LANECAR_TRACING=1`. When off, the data
 * path pays one `undefined` check.
 *
 * Spans are children of the trace context the request arrived with (W3C `traceparent`, B3), but
 * Lanecar does not rewrite tracing headers: the app's propagation is passed through untouched,
 * so a hop span shows as a child of the caller's span.
 */

import type { HeaderGetter } from "@lanecar/core";
import {
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
} from "@opentelemetry/api";

export interface HopAttributes {
  lane: string;
  subset: string;
  fallback: string;
  destination: string;
  listener: string;
}

const getter: TextMapGetter<HeaderGetter> = {
  keys: () => [
    "traceparent",
    "tracestate",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-sampled",
    "x-b3-parentspanid",
    "baggage",
  ],
  get: (carrier, key) => carrier(key.toLowerCase()),
};

export class HopTracer {
  constructor(private readonly tracer: Tracer) {}

  /** Starts the span of one hop, parented on the request's incoming trace context. */
  start(name: string, header: HeaderGetter): Span {
    const parent = propagation.extract(context.active(), header, getter);
    return this.tracer.startSpan(name, { kind: SpanKind.SERVER }, parent);
  }

  end(span: Span, status: number, flags: string, a: HopAttributes): void {
    span.setAttributes({
      "http.response.status_code": status,
      "lanecar.lane": a.lane,
      "lanecar.subset": a.subset,
      "lanecar.fallback": a.fallback,
      "lanecar.response_flags": flags || "-",
      "lanecar.listener": a.listener,
      "server.address": a.destination,
    });
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }
}

export interface TracingHandle {
  tracer: HopTracer;
  shutdown(): Promise<void>;
}

export { tracingEnabled } from "./tracing-enabled.js";

/**
 * Starts the OpenTelemetry Node SDK (loaded only when tracing is on) and returns a hop tracer.
 * `spanProcessors` lets tests pass an in-memory exporter.
 */
export async function startTracing(
  serviceName: string,
  opts: { spanProcessors?: unknown[] } = {},
): Promise<TracingHandle> {
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const { W3CTraceContextPropagator, W3CBaggagePropagator, CompositePropagator } = await import(
    "@opentelemetry/core"
  );
  const { B3Propagator } = await import("@opentelemetry/propagator-b3");
  const sdk = new NodeSDK({
    serviceName,
    instrumentations: [],
    autoDetectResources: false,
    textMapPropagator: new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator(), new B3Propagator()],
    }),
    ...(opts.spanProcessors ? { spanProcessors: opts.spanProcessors as never } : {}),
  });
  sdk.start();
  return { tracer: new HopTracer(trace.getTracer("lanecar")), shutdown: () => sdk.shutdown() };
}
