/**
 * Pictures of a run, as SVG files a browser opens: the loss, metric and lr curves per epoch, and the
 * confusion matrix. Hand-written: a few polylines and rectangles; the charting packages we looked at
 * (vega, chart.js + canvas) pull in a renderer or a native canvas for what is ~100 lines here.
 *   plots/loss.svg      training (and validation) loss per epoch
 *   plots/metrics.svg   validation metrics per epoch (the ones in [0, 1]: accuracy, mAP, 1 - MAE, ...)
 *   plots/lr.svg        learning rate of each parameter group per epoch
 *   plots/confusion.svg the latest validation confusion matrix (single-label tasks)
 */
import * as path from 'path';
import * as fs from 'fs';
import { writeFileAtomic } from '../io/atomic';
import type { EpochRecord } from './run_dir';

export const PLOTS_DIR = 'plots';
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (x: number) => (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(1) : String(+x.toPrecision(3)));

export interface Series {
  name: string;
  /** [x, y] points; non-finite y values are left out. */
  points: [number, number][];
}

/** A line chart (640 x 360) of `series` over a shared x axis, with a legend; `logY` for lr curves. */
export function lineChartSvg(title: string, series: Series[], o: { xLabel?: string; logY?: boolean } = {}): string {
  const W = 640;
  const H = 360;
  const L = 64;
  const R = 150;
  const T = 36;
  const B = 44;
  const ty = (y: number) => (o.logY ? Math.log10(y) : y);
  const pts = series.map((s) => s.points.filter(([, y]) => Number.isFinite(y) && (!o.logY || y > 0)));
  const xs = pts.flat().map(([x]) => x);
  const ys = pts.flat().map(([, y]) => ty(y));
  let [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - (Math.abs(y0) || 1) * 0.1, y1 + (Math.abs(y1) || 1) * 0.1];
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => T + (1 - (ty(y) - y0) / (y1 - y0)) * (H - T - B);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#999"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const yv = y0 + ((y1 - y0) * i) / 4;
    const y = T + (1 - i / 4) * (H - T - B);
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${L - 6}" y="${y + 4}" text-anchor="end">${num(o.logY ? 10 ** yv : yv)}</text>`);
  }
  const xt = [...new Set(xs)].sort((a, b) => a - b);
  const every = Math.max(1, Math.ceil(xt.length / 10));
  xt.forEach((x, i) => i % every === 0 && out.push(`<text x="${px(x)}" y="${H - B + 16}" text-anchor="middle">${num(x)}</text>`));
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">${esc(o.xLabel ?? 'epoch')}</text>`);
  pts.forEach((p, i) => {
    const c = COLORS[i % COLORS.length]!;
    if (p.length > 1)
      out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${p.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of p) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${c}"/>`);
    out.push(`<rect x="${W - R + 12}" y="${T + i * 18}" width="12" height="12" fill="${c}"/>`);
    out.push(`<text x="${W - R + 30}" y="${T + i * 18 + 10}">${esc(series[i]!.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** A confusion matrix heat map: rows = true class, columns = predicted class, counts in the cells. */
export function confusionSvg(cm: number[][], names: readonly string[], title = 'confusion matrix'): string {
  const K = cm.length;
  const cell = Math.max(24, Math.min(64, Math.floor(480 / Math.max(1, K))));
  const L = 120;
  const T = 110;
  const W = L + K * cell + 20;
  const H = T + K * cell + 40;
  const max = Math.max(1, ...cm.flat());
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<text x="${L + (K * cell) / 2}" y="40" text-anchor="middle">predicted</text>`,
    `<text x="14" y="${T + (K * cell) / 2}" text-anchor="middle" transform="rotate(-90 14 ${T + (K * cell) / 2})">true</text>`,
  ];
  cm.forEach((row, i) => {
    out.push(`<text x="${L - 6}" y="${T + i * cell + cell / 2 + 4}" text-anchor="end">${esc(names[i] ?? String(i))}</text>`);
    out.push(
      `<text x="${L + i * cell + cell / 2}" y="${T - 6}" text-anchor="start" transform="rotate(-45 ${L + i * cell + cell / 2} ${T - 6})">${esc(names[i] ?? String(i))}</text>`,
    );
    row.forEach((v, j) => {
      const shade = Math.round(255 * (1 - v / max));
      out.push(`<rect x="${L + j * cell}" y="${T + i * cell}" width="${cell}" height="${cell}" fill="rgb(${shade},${shade},255)" stroke="#ccc"/>`);
      out.push(
        `<text x="${L + j * cell + cell / 2}" y="${T + i * cell + cell / 2 + 4}" text-anchor="middle" fill="${v / max > 0.5 ? 'white' : 'black'}">${v}</text>`,
      );
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

async function writeSvg(dir: string, name: string, svg: string): Promise<void> {
  await fs.promises.mkdir(path.join(dir, PLOTS_DIR), { recursive: true });
  await writeFileAtomic(path.join(dir, PLOTS_DIR, name), [Buffer.from(svg)]);
}

/** plots/loss.svg, plots/metrics.svg (when there is a validation set) and plots/lr.svg from the epoch records. */
export async function writeCurves(dir: string, history: readonly EpochRecord[]): Promise<void> {
  const at = (f: (r: EpochRecord) => number | undefined) => history.map((r) => [r.epoch, f(r) ?? NaN] as [number, number]);
  const loss: Series[] = [{ name: 'train loss', points: at((r) => r.train.loss) }];
  if (history.some((r) => r.val)) loss.push({ name: 'val loss', points: at((r) => r.val?.loss) });
  await writeSvg(dir, 'loss.svg', lineChartSvg('loss', loss));
  const keys = [...new Set(history.flatMap((r) => Object.keys(r.val ?? {})))].filter(
    (k) => k !== 'loss' && history.every((r) => r.val?.[k] === undefined || Number.isNaN(r.val[k]) || (r.val[k]! >= -1 && r.val[k]! <= 1)),
  );
  if (keys.length)
    await writeSvg(
      dir,
      'metrics.svg',
      lineChartSvg(
        'validation metrics',
        keys.slice(0, 10).map((k) => ({ name: k, points: at((r) => r.val?.[k]) })),
      ),
    );
  const groups = Math.max(0, ...history.map((r) => r.lr.length));
  const lr = Array.from({ length: groups }, (_, g) => ({ name: `lr group ${g}`, points: at((r) => r.lr[g]) }));
  await writeSvg(dir, 'lr.svg', lineChartSvg('learning rate (end of epoch)', lr, { logY: true }));
}

/** plots/confusion.svg (or `name`). */
export async function writeConfusion(dir: string, cm: number[][], names: readonly string[], title?: string, name = 'confusion.svg'): Promise<void> {
  await writeSvg(dir, name, confusionSvg(cm, names, title));
}
