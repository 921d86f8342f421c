/**
 * A hand-written SVG chart of a bench report: RPS per workload (groups) and target (bars), on a log scale
 * because the targets span three orders of magnitude, with every bar labelled with its value.
 */
import { formatRpsShort } from './format';
import type { BenchReport } from './summary';
import type { TargetName } from './targets/catalog';

const COLOURS: Record<TargetName, string> = {
  'ours-off': '#6baed6',
  'ours-default': '#08519c',
  'ours-nolimits': '#3182bd',
  'ours-tracing': '#9ecae1',
  'ours-off-2w': '#c6dbef',
  'ours-default-2w': '#084594',
  'apollo-gateway': '#e6550d',
  'hive-gateway': '#31a354',
  'hive-gateway-rust': '#74c476',
  'hive-gateway-rust-dedup': '#006d2c',
  'subgraph-direct': '#9e9e9e',
  limit: '#252525',
};

const WIDTH = 1000;
const HEIGHT = 560;
const PLOT = { left: 80, right: 20, top: 110, bottom: 70 };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function tickLabel(power: number): string {
  const value = 10 ** power;
  if (value >= 1_000_000) return `${value / 1_000_000}M`;
  if (value >= 1000) return `${value / 1000}k`;
  return String(value);
}

/** The log10 range shown: from a power of ten at or below the smallest bar to well above the largest (room for labels). */
export function logDomain(values: readonly number[]): { low: number; high: number } {
  const positive = values.filter((value) => value > 0);
  if (positive.length === 0) return { low: 0, high: 1 };
  const low = Math.min(0, Math.floor(Math.log10(Math.min(...positive))));
  const high = Math.max(low + 1, Math.log10(Math.max(...positive)) + 0.45);
  return { low, high };
}

export function renderChartSvg(report: BenchReport): string {
  const workloads = report.workloads.map((workload) => workload.name);
  const targets = report.settings.targets;
  const value = (workload: string, target: TargetName) =>
    report.summary.find((summary) => summary.workload === workload && summary.target === target);
  const domain = logDomain(report.summary.map((summary) => summary.rps ?? 0));
  const plotWidth = WIDTH - PLOT.left - PLOT.right;
  const plotHeight = HEIGHT - PLOT.top - PLOT.bottom;
  const bottom = PLOT.top + plotHeight;
  const y = (rps: number) => {
    const position = (Math.log10(Math.max(rps, 10 ** domain.low)) - domain.low) / (domain.high - domain.low);
    return bottom - position * plotHeight;
  };

  const parts: string[] = [];
  const date = report.startedAt.slice(0, 16).replace('T', ' ');
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif">`,
    `<title>Gateway benchmark: requests per second by workload and target</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${PLOT.left}" y="28" font-size="18" font-weight="bold">Requests per second (log scale; median of ${report.settings.rounds} round${report.settings.rounds === 1 ? '' : 's'}, ${report.settings.connections} connections)</text>`,
    `<text x="${PLOT.left}" y="48" font-size="12" fill="#555">${escapeXml(`${date} UTC, ${report.machine.cpus} CPUs, ${report.machine.memoryGiB.toFixed(0)} GiB, Node ${report.machine.node}, ${report.settings.mode} run; * = answer differed from the reference`)}</text>`,
  );

  // Legend, one row above the plot.
  const legendStep = plotWidth / Math.max(targets.length, 1);
  targets.forEach((target, index) => {
    const x = PLOT.left + index * legendStep;
    parts.push(
      `<rect x="${x}" y="66" width="14" height="14" fill="${COLOURS[target]}"/>`,
      `<text x="${x + 20}" y="78" font-size="13">${escapeXml(target)}</text>`,
    );
  });

  // Grid lines at powers of ten, lighter ones at 2x and 5x.
  for (let power = Math.ceil(domain.low); power <= Math.floor(domain.high); power++) {
    for (const [factor, strong] of [[1, true], [2, false], [5, false]] as const) {
      const tick = factor * 10 ** power;
      if (Math.log10(tick) > domain.high) continue;
      const ty = y(tick).toFixed(1);
      parts.push(
        `<line x1="${PLOT.left}" x2="${WIDTH - PLOT.right}" y1="${ty}" y2="${ty}" stroke="${strong ? '#bbbbbb' : '#e8e8e8'}" stroke-width="1"/>`,
      );
      if (strong) {
        parts.push(`<text x="${PLOT.left - 8}" y="${Number(ty) + 4}" font-size="12" text-anchor="end">${tickLabel(power)}</text>`);
      }
    }
  }
  parts.push(
    `<text x="18" y="${PLOT.top + plotHeight / 2}" font-size="13" text-anchor="middle" transform="rotate(-90 18 ${PLOT.top + plotHeight / 2})">requests per second</text>`,
  );

  const groupWidth = plotWidth / Math.max(workloads.length, 1);
  const barWidth = (groupWidth * 0.84) / Math.max(targets.length, 1);
  workloads.forEach((workload, groupIndex) => {
    const groupLeft = PLOT.left + groupIndex * groupWidth + groupWidth * 0.08;
    targets.forEach((target, barIndex) => {
      const summary = value(workload, target);
      const x = groupLeft + barIndex * barWidth;
      const centre = x + barWidth / 2;
      const rps = summary?.rps ?? null;
      const label = `${formatRpsShort(rps)}${summary?.check === 'failed' ? '*' : ''}`;
      if (rps == null || rps <= 0) {
        parts.push(
          `<text x="${centre.toFixed(1)}" y="${bottom - 6}" font-size="11" text-anchor="start" transform="rotate(-90 ${centre.toFixed(1)} ${bottom - 6})" fill="#999">${escapeXml(label)}</text>`,
        );
        return;
      }
      const top = y(rps);
      parts.push(
        `<rect x="${(x + 1).toFixed(1)}" y="${top.toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${(bottom - top).toFixed(1)}" fill="${COLOURS[target]}"><title>${escapeXml(`${workload} / ${target}: ${label} RPS`)}</title></rect>`,
        `<text x="${(centre + 4).toFixed(1)}" y="${(top - 5).toFixed(1)}" font-size="11" text-anchor="start" transform="rotate(-90 ${(centre + 4).toFixed(1)} ${(top - 5).toFixed(1)})">${escapeXml(label)}</text>`,
      );
    });
    parts.push(
      `<text x="${(PLOT.left + groupIndex * groupWidth + groupWidth / 2).toFixed(1)}" y="${bottom + 24}" font-size="14" font-weight="bold" text-anchor="middle">${escapeXml(workload)}</text>`,
    );
  });
  parts.push(`<line x1="${PLOT.left}" x2="${WIDTH - PLOT.right}" y1="${bottom}" y2="${bottom}" stroke="#333" stroke-width="1"/>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
