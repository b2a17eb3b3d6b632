/**
 * The chart of a harness run (bench/results/latest.svg), hand-written SVG: left, median req/s per
 * scenario as bars with the min–max of the rounds as a whisker; right, latency at the fixed rate
 * on a log scale (dot p50, thick p50–p99, thin line on to p99.9). Colours by kind: Lanecar blue,
 * native proxies grey, Node proxies amber, direct green.
 */

import type { BenchResults } from "./results.js";
import type { ScenarioKind } from "./scenarios/types.js";

const COLORS: Record<ScenarioKind, string> = {
  lanecar: "#2563eb",
  native: "#6b7280",
  node: "#d97706",
  baseline: "#059669",
};

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

function kfmt(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(n % 1000 === 0 ? 0 : 1)}k` : String(Math.round(n));
}

function msfmt(n: number): string {
  return n >= 10 ? n.toFixed(0) : n >= 1 ? n.toFixed(1) : n >= 0.1 ? n.toFixed(2) : n.toFixed(3);
}

export function svgChart(r: BenchResults): string {
  const rows = r.scenarios;
  const W = 1090;
  const rowH = 30;
  const top = 78;
  const labelW = 200;
  const ax0 = labelW + 10;
  const aw = 400;
  const bx0 = ax0 + aw + 110;
  const bw = 300;
  const H = top + rows.length * rowH + 62;

  const ran = rows.filter((s) => s.rps !== null);
  const maxRps = Math.max(1, ...ran.map((s) => Math.max(s.rps!, s.rpsMax ?? 0)));
  const step = niceStep(maxRps, 5);
  const axisMax = Math.ceil(maxRps / step) * step;
  const xA = (v: number) => ax0 + (v / axisMax) * aw;

  const lats = ran
    .flatMap((s) => [s.p50, s.p99, s.p999])
    .filter((v): v is number => v !== null && v > 0 && Number.isFinite(v));
  const lo = lats.length > 0 ? 10 ** Math.floor(Math.log10(Math.min(...lats))) : 0.01;
  const hi = lats.length > 0 ? 10 ** Math.ceil(Math.log10(Math.max(...lats) * 1.05)) : 10;
  const xB = (v: number) =>
    bx0 + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * bw;

  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`,
  );
  o.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  const m = r.meta;
  o.push(
    `<text x="16" y="24" font-size="16" font-weight="600" fill="#111827">Lanecar vs peers — ${esc(m.timestamp)}</text>`,
  );
  o.push(
    `<text x="16" y="42" fill="#4b5563">${esc(
      `${m.mode}: ${m.rounds} round(s) × ${m.durationS} s, ${m.connections} connections, GET ${m.path}, node ${m.node}, ${m.cores} cores — medians over rounds`,
    )}</text>`,
  );
  o.push(
    `<text x="${ax0}" y="${top - 14}" font-weight="600" fill="#111827">max throughput, req/s (whisker: min–max of rounds)</text>`,
  );
  o.push(
    `<text x="${bx0}" y="${top - 14}" font-weight="600" fill="#111827">latency at ${esc(kfmt(m.rate))} req/s, ms (log)</text>`,
  );

  // Grids.
  const gridBottom = top + rows.length * rowH;
  for (let v = 0; v <= axisMax + 1e-9; v += step) {
    const x = xA(v);
    o.push(`<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${gridBottom}" stroke="#e5e7eb"/>`);
    o.push(
      `<text x="${x}" y="${gridBottom + 14}" text-anchor="middle" fill="#6b7280" font-size="11">${kfmt(v)}</text>`,
    );
  }
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    for (const k of [1, 2, 5]) {
      const v = d * k;
      if (v > hi * 1.0001) break;
      const x = xB(v);
      o.push(
        `<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${gridBottom}" stroke="${k === 1 ? "#d1d5db" : "#f3f4f6"}"/>`,
      );
      // Label every decade; 2 and 5 only when a decade is wide enough to hold three labels.
      if (k === 1 || bw / Math.log10(hi / lo) > 150) {
        o.push(
          `<text x="${x}" y="${gridBottom + 14}" text-anchor="middle" fill="#6b7280" font-size="11">${msfmt(v)}</text>`,
        );
      }
    }
  }

  rows.forEach((s, i) => {
    const y = top + i * rowH;
    const cy = y + rowH / 2;
    const color = COLORS[s.kind];
    if (i % 2 === 1)
      o.push(`<rect x="8" y="${y}" width="${W - 16}" height="${rowH}" fill="#f9fafb" opacity="0.7"/>`);
    o.push(
      `<text x="${labelW}" y="${cy + 4}" text-anchor="end" fill="#111827"${s.kind === "lanecar" ? ' font-weight="600"' : ""}>${esc(s.name)}</text>`,
    );
    if (s.rps === null) {
      o.push(
        `<text x="${ax0 + 6}" y="${cy + 4}" fill="#9ca3af" font-style="italic">unavailable${s.reason ? `: ${esc(s.reason.split("\n")[0]!.slice(0, 120))}` : ""}</text>`,
      );
      return;
    }
    o.push(
      `<rect x="${ax0}" y="${cy - 8}" width="${Math.max(1, xA(s.rps) - ax0)}" height="16" rx="2" fill="${color}" opacity="0.85"/>`,
    );
    if (s.rpsMin !== null && s.rpsMax !== null && s.rpsMax > s.rpsMin) {
      const [a, b] = [xA(s.rpsMin), xA(s.rpsMax)];
      o.push(`<line x1="${a}" y1="${cy}" x2="${b}" y2="${cy}" stroke="#111827" stroke-width="1.2"/>`);
      o.push(`<line x1="${a}" y1="${cy - 5}" x2="${a}" y2="${cy + 5}" stroke="#111827" stroke-width="1.2"/>`);
      o.push(`<line x1="${b}" y1="${cy - 5}" x2="${b}" y2="${cy + 5}" stroke="#111827" stroke-width="1.2"/>`);
    }
    const ratio =
      s.ratioVsNginx !== null && s.name !== "nginx" ? ` (${s.ratioVsNginx.toFixed(2)}× nginx)` : "";
    const tx = Math.max(xA(s.rps), xA(s.rpsMax ?? 0)) + 6;
    o.push(`<text x="${tx}" y="${cy + 4}" fill="#111827">${kfmt(s.rps)}${esc(ratio)}</text>`);

    if (s.p50 !== null && s.p99 !== null && s.p999 !== null) {
      const [x50, x99, x999] = [xB(s.p50), xB(s.p99), xB(s.p999)];
      o.push(`<line x1="${x50}" y1="${cy}" x2="${x999}" y2="${cy}" stroke="${color}" stroke-width="1.5"/>`);
      o.push(
        `<line x1="${x999}" y1="${cy - 6}" x2="${x999}" y2="${cy + 6}" stroke="${color}" stroke-width="1.5"/>`,
      );
      o.push(
        `<rect x="${x50}" y="${cy - 4}" width="${Math.max(1, x99 - x50)}" height="8" fill="${color}" opacity="0.85"/>`,
      );
      o.push(`<circle cx="${x50}" cy="${cy}" r="4" fill="#ffffff" stroke="${color}" stroke-width="2"/>`);
      o.push(
        `<text x="${bx0 + bw + 8}" y="${cy + 4}" fill="#374151" font-size="11">p99 ${msfmt(s.p99)}</text>`,
      );
    }
  });

  const ly = gridBottom + 38;
  let lx = 16;
  for (const [kind, label] of [
    ["lanecar", "Lanecar"],
    ["native", "nginx / HAProxy"],
    ["node", "Node proxies"],
    ["baseline", "direct (no proxy)"],
  ] as const) {
    o.push(`<rect x="${lx}" y="${ly - 9}" width="12" height="12" rx="2" fill="${COLORS[kind]}"/>`);
    o.push(`<text x="${lx + 18}" y="${ly + 1}" fill="#374151">${label}</text>`);
    lx += 40 + label.length * 7;
  }
  o.push(
    `<text x="${lx + 10}" y="${ly + 1}" fill="#6b7280">latency: ○ p50, bar p50–p99, line to p99.9</text>`,
  );
  o.push("</svg>");
  return `${o.join("\n")}\n`;
}
