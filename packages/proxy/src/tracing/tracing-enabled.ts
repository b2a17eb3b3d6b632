/**
 * Whether tracing is on (`OTEL_TRACES_EXPORTER` set to an exporter, or `LANECAR_TRACING=1`;
 * `OTEL_SDK_DISABLED=true` wins). Kept apart from hop-tracer.ts so a process with tracing off
 * never loads OpenTelemetry (its API alone is ~3 MB resident).
 */
export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const exp = env.OTEL_TRACES_EXPORTER;
  if (env.OTEL_SDK_DISABLED === "true") return false;
  return (exp !== undefined && exp !== "" && exp !== "none") || env.LANECAR_TRACING === "1";
}
