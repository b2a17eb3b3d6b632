/** Reads Prometheus text from a Lanecar admin API and sums series matching some labels. */
export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, "$1");
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

export async function metric(
  admin: string,
  name: string,
  match: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  return parseMetrics(text)
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
