// Renderings of a bench report: a terminal table and an SVG bar chart of throughput by image size and mode.
import type { BenchReport, WorkloadResult } from './run.js';

const pct = (share: number): string => `${Math.round(share * 100)}%`;

export function benchTable(report: BenchReport): string {
  const header = ['images', 'mode', 'models', 'batch', 'threads', 'img/s', 'p50 ms', 'p95 ms', 'p99 ms', 'peak RSS', 'decode', 'prep', 'infer', 'report', 'GFLOP/s', 'of ceiling'];
  const rows = report.workloads.map((w) => [
    w.images,
    w.mode === 'all' ? 'full-res' : `cap ${w.mode}`,
    String(w.models),
    String(w.batch),
    String(w.threads),
    w.imagesPerSecond.toFixed(2),
    w.latencyMs.p50.toFixed(0),
    w.latencyMs.p95.toFixed(0),
    w.latencyMs.p99.toFixed(0),
    `${w.peakRssMiB.toFixed(0)} MiB`,
    pct(w.stageShare.decode),
    pct(w.stageShare.preprocess),
    pct(w.stageShare.inference),
    pct(w.stageShare.report),
    w.achievedGflops.toFixed(1),
    pct(w.ceilingRatio),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]): string => cells.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const pre = report.preprocess
    .map((p) => `  ${p.size}: full ${p.fullMPs.toFixed(1)} MP/s, patch extraction ${p.patchesMPs.toFixed(1)} MP/s, Gaussian resize ${p.resizeMPs.toFixed(1)} MP/s`)
    .join('\n');
  return [
    `musiq-native bench: ${report.machine.cpus} CPU(s), ${report.machine.device}, Node ${report.machine.node}`,
    `weights: ${report.weights}`,
    ...report.ceilings.map((c) => `GEMM ceiling, threads ${c.threads}: ${c.gflops.toFixed(1)} GFLOP/s (ONNX MatMul ${c.shape.join('×')}, best of before and after)`),
    `C++ preprocessing, one thread:\n${pre}`,
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
  ].join('\n');
}

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** Grouped bars: images/s per image size, one bar per mode, for one model at batch 1 and default threads. */
export function benchSvg(report: BenchReport): string {
  const rows = report.workloads.filter((w) => w.models === 1 && w.batch === report.workloads[0]?.batch && w.threads === report.workloads[0]?.threads);
  const groups = [...new Set(rows.map((w) => w.images))];
  const modes = ['all', 1024] as const;
  const colours = { all: '#3366cc', 1024: '#ff9900' };
  const width = 120 + groups.length * 140;
  const height = 320;
  const top = 40;
  const plotHeight = 220;
  const max = Math.max(...rows.map((w) => w.imagesPerSecond), 1e-9);
  const bars: string[] = [];
  groups.forEach((group, g) => {
    modes.forEach((mode, m) => {
      const w: WorkloadResult | undefined = rows.find((r) => r.images === group && r.mode === mode);
      if (!w) return;
      const h = (w.imagesPerSecond / max) * plotHeight;
      const x = 80 + g * 140 + m * 50;
      const y = top + plotHeight - h;
      bars.push(`<rect x="${x}" y="${y.toFixed(1)}" width="44" height="${h.toFixed(1)}" fill="${colours[mode]}"/>`);
      bars.push(`<text x="${x + 22}" y="${(y - 4).toFixed(1)}" font-size="11" text-anchor="middle">${w.imagesPerSecond.toFixed(2)}</text>`);
    });
    bars.push(`<text x="${80 + g * 140 + 47}" y="${top + plotHeight + 18}" font-size="12" text-anchor="middle">${escape(group)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="22" font-size="14">musiq-native throughput (images/s), 1 model, ${escape(report.machine.device)}, ${report.machine.cpus} CPU(s)</text>
<line x1="70" y1="${top + plotHeight}" x2="${width - 20}" y2="${top + plotHeight}" stroke="black"/>
${bars.join('\n')}
<rect x="80" y="${height - 30}" width="12" height="12" fill="${colours.all}"/><text x="96" y="${height - 20}" font-size="12">full resolution (all patches)</text>
<rect x="300" y="${height - 30}" width="12" height="12" fill="${colours[1024]}"/><text x="316" y="${height - 20}" font-size="12">TF Hub mode (cap 1024)</text>
</svg>
`;
}
