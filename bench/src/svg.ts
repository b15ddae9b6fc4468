/** Two small SVG chart kinds, enough for the report: grouped vertical bars and bar panels. */
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
export const COLORS: Record<string, string> = { conclave: '#2b6cb0', zookeeper: '#c05621', etcd: '#2f855a' };
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

export const fmt = (v: number) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v >= 10 ? v.toFixed(1) : v.toFixed(2));

function legend(series: string[], x: number, y: number): string {
  return series
    .map((s, i) => `<rect x="${x + i * 110}" y="${y - 9}" width="10" height="10" fill="${COLORS[s] ?? '#888'}"/><text x="${x + i * 110 + 14}" y="${y}" font-size="11" ${FONT}>${esc(s)}</text>`)
    .join('');
}

/** groups on the x axis, one bar per series in each group; `values[group][series]` */
export function groupedBars(title: string, unit: string, groups: string[], series: string[], values: (number | undefined)[][]): string {
  const width = Math.max(640, groups.length * (series.length * 18 + 26) + 90) + 60;
  const height = 340;
  const left = 64;
  const top = 56;
  const bottom = 90;
  const plotH = height - top - bottom;
  const max = niceCeil(Math.max(1e-9, ...values.flat().filter((v): v is number => v !== undefined && Number.isFinite(v))));
  const groupW = (width - left - 80) / groups.length;
  const barW = Math.min(22, (groupW - 12) / series.length);
  const parts: string[] = [];
  for (let t = 0; t <= 4; t++) {
    const y = top + plotH - (plotH * t) / 4;
    parts.push(`<line x1="${left}" x2="${width - 80}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${left - 6}" y="${y + 4}" font-size="10" text-anchor="end" ${FONT}>${fmt((max * t) / 4)}</text>`);
  }
  groups.forEach((g, gi) => {
    const gx = left + gi * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const v = values[gi]?.[si];
      if (v === undefined || !Number.isFinite(v)) return;
      const h = (plotH * v) / max;
      parts.push(`<rect x="${gx + si * barW}" y="${top + plotH - h}" width="${barW - 2}" height="${h}" fill="${COLORS[s] ?? '#888'}"><title>${esc(`${s} ${g}: ${fmt(v)} ${unit}`)}</title></rect>`);
    });
    const cx = left + gi * groupW + groupW / 2;
    parts.push(`<text transform="translate(${cx},${top + plotH + 12}) rotate(35)" font-size="10" ${FONT}>${esc(g)}</text>`);
  });
  return svg(width, height, [
    `<text x="${left}" y="18" font-size="14" font-weight="bold" ${FONT}>${esc(title)}</text>`,
    `<text x="12" y="${top + plotH / 2}" font-size="10" transform="rotate(-90,12,${top + plotH / 2})" text-anchor="middle" ${FONT}>${esc(unit)}</text>`,
    legend(series, left, 40),
    ...parts,
  ]);
}

/** the smallest 1, 2 or 5 x 10^k at or above v */
function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}

export interface Panel {
  title: string;
  unit: string;
  values: { label: string; value: number | undefined }[];
}

/** small horizontal bar charts side by side, each with its own scale */
export function barPanels(title: string, panels: Panel[], perRow = 3, labelW = 70): string {
  const panelW = 190 + labelW;
  const barH = 18;
  const rows = Math.ceil(panels.length / perRow);
  const panelH = 40 + Math.max(...panels.map((p) => p.values.length)) * (barH + 4) + 10;
  const width = perRow * panelW + 20;
  const height = 30 + rows * panelH;
  const parts: string[] = [`<text x="10" y="18" font-size="14" font-weight="bold" ${FONT}>${esc(title)}</text>`];
  panels.forEach((p, i) => {
    const x0 = 10 + (i % perRow) * panelW;
    const y0 = 30 + Math.floor(i / perRow) * panelH;
    const max = Math.max(1e-9, ...p.values.map((v) => v.value ?? 0).filter(Number.isFinite));
    parts.push(`<text x="${x0}" y="${y0 + 14}" font-size="11" font-weight="bold" ${FONT}>${esc(p.title)}</text>`);
    p.values.forEach((v, j) => {
      const y = y0 + 24 + j * (barH + 4);
      parts.push(`<text x="${x0}" y="${y + 13}" font-size="10" ${FONT}>${esc(v.label)}</text>`);
      if (v.value === undefined || !Number.isFinite(v.value)) {
        parts.push(`<text x="${x0 + labelW}" y="${y + 13}" font-size="10" fill="#888" ${FONT}>no result</text>`);
        return;
      }
      const w = Math.max(1, ((panelW - labelW - 80) * v.value) / max);
      parts.push(`<rect x="${x0 + labelW}" y="${y}" width="${w}" height="${barH}" fill="${COLORS[v.label] ?? '#718096'}"/>`);
      parts.push(`<text x="${x0 + labelW + 4 + w}" y="${y + 13}" font-size="10" ${FONT}>${esc(`${fmt(v.value)} ${p.unit}`)}</text>`);
    });
  });
  return svg(width, height, parts);
}

function svg(width: number, height: number, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`;
}
