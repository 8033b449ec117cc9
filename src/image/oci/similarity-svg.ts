/**
 * The similarity matrix as a self-contained heat-map SVG (pure): one cell per pair with its value,
 * image names along both axes (columns slanted so long references fit), and a colour scale from 0
 * to 1. No fonts, scripts or external references; every name is escaped.
 */
import type { SimilarityMatrix } from './similarity.js';

const CELL = 56;
const CHAR = 7; // rough width of a 12px sans-serif character, for sizing the label areas
const MAX_LABEL = 48;
/** ColorBrewer "Blues", light to dark: low similarity fades into the background. */
const STOPS = [
  '#f7fbff',
  '#deebf7',
  '#c6dbef',
  '#9ecae1',
  '#6baed6',
  '#4292c6',
  '#2171b5',
  '#08519c',
  '#08306b',
];

export function escapeXml(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', '"': 'quot', "'": 'apos' }[c]};`,
  );
}

function label(s: string): string {
  return s.length > MAX_LABEL ? `…${s.slice(s.length - MAX_LABEL + 1)}` : s;
}

function hex(n: number): string {
  return Math.round(n).toString(16).padStart(2, '0');
}

/** The colour of a value in [0, 1], interpolated between the scale's stops. */
export function heatColor(v: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const t = x - i;
  const a = STOPS[i]!;
  const b = STOPS[i + 1]!;
  const ch = (s: string, k: number) => Number.parseInt(s.slice(1 + 2 * k, 3 + 2 * k), 16);
  return `#${[0, 1, 2].map((k) => hex(ch(a, k) + (ch(b, k) - ch(a, k)) * t)).join('')}`;
}

export function similaritySvg(m: SimilarityMatrix, title = 'Layer similarity (Jaccard)'): string {
  const n = m.names.length;
  const labels = m.names.map(label);
  const longest = Math.max(4, ...labels.map((l) => l.length)) * CHAR;
  const left = 20 + longest;
  // Column labels are slanted by 45°, so they need about 0.71 of their length upwards.
  const top = 50 + Math.ceil(longest * 0.71);
  const gridW = n * CELL;
  const legendX = left + gridW + 30;
  // The last column's slanted label reaches right as far as it reaches up.
  const W = Math.max(legendX + 70, left + gridW + Math.ceil(longest * 0.71));
  const H = Math.max(top + gridW, top + 200) + 30;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    '<defs><linearGradient id="scale" x1="0" y1="1" x2="0" y2="0">',
    ...STOPS.map((c, i) => `<stop offset="${(i / (STOPS.length - 1)).toFixed(3)}" stop-color="${c}"/>`),
    '</linearGradient></defs>',
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${left}" y="24" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  labels.forEach((l, i) => {
    const y = top + i * CELL + CELL / 2 + 4;
    out.push(`<text x="${left - 8}" y="${y}" text-anchor="end">${escapeXml(l)}</text>`);
    const x = left + i * CELL + CELL / 2;
    out.push(`<text x="${x}" y="${top - 8}" transform="rotate(-45 ${x} ${top - 8})">${escapeXml(l)}</text>`);
  });
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = m.values[i]![j]!;
      const x = left + j * CELL;
      const y = top + i * CELL;
      const tip = `${m.names[i]} × ${m.names[j]}: ${v.toFixed(2)} (${m.shared[i]![j]} shared layer(s))`;
      out.push(
        `<g><title>${escapeXml(tip)}</title>`,
        `<rect x="${x}" y="${y}" width="${CELL}" height="${CELL}" fill="${heatColor(v)}" stroke="white"/>`,
        `<text x="${x + CELL / 2}" y="${y + CELL / 2 + 4}" text-anchor="middle" fill="${v > 0.55 ? 'white' : 'black'}">${v.toFixed(2)}</text></g>`,
      );
    }
  }
  const barH = 200;
  out.push(
    `<rect x="${legendX}" y="${top}" width="16" height="${barH}" fill="url(#scale)" stroke="#999"/>`,
    ...[0, 0.25, 0.5, 0.75, 1].map(
      (t) =>
        `<text x="${legendX + 22}" y="${(top + barH * (1 - t) + 4).toFixed(1)}" font-size="11">${t.toFixed(2)}</text>`,
    ),
    '</svg>',
    '',
  );
  return out.join('\n');
}
