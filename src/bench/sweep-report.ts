/** A sweep summary as markdown: one table per metric, levels down, modes across. Pure. */
import type { SweepCell, SweepSummary } from './sweep-summary.js';

export function fmt(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1000) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 0.01) return v.toFixed(3);
  return v.toPrecision(2);
}

const cellText = (c: SweepCell | undefined) =>
  c === undefined
    ? '–'
    : `${fmt(c.median)} / ${fmt(c.p90)}${c.mode !== 'host' && c.ratio_to_host !== null ? ` (×${c.ratio_to_host.toFixed(2)})` : ''}${c.failed > 0 ? ` ⚠${c.failed} failed` : ''}`;

export function sweepMarkdown(s: SweepSummary): string {
  const out = [
    `## agni bench sweep ${s.function}`,
    '',
    `${s.n} replicates per mode and level, ${s.date}. Each cell: median / p90 (× the bare host's median at the same level).`,
    '',
  ];
  for (const note of s.notes) out.push(`- ${note}`);
  if (s.notes.length > 0) out.push('');
  for (const metric of s.metrics) {
    const cells = s.cells.filter((c) => c.metric === metric);
    const modes = s.modes.filter((m) => cells.some((c) => c.mode === m));
    if (modes.length === 0) continue;
    out.push(`### ${metric}`, '');
    out.push(`| concurrency | ${modes.join(' | ')} |`);
    out.push(`| ---: | ${modes.map(() => '---:').join(' | ')} |`);
    for (const c of s.levels) {
      const row = modes.map((m) => cellText(cells.find((x) => x.mode === m && x.concurrency === c)));
      out.push(`| ${c} | ${row.join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
