/** Images with sizes and architectures, and the layer-similarity heat map of the OCI images. */
import { api } from '../api.js';
import { formatBytes, formatTime } from '../format.js';
import { usePoll } from '../poll.js';
import type { ImageEntry, Similarity } from '../types.js';
import { ErrorBox, Loading, Section } from '../widgets.js';

/** 0 → pale, 1 → deep: one hue, so the map reads the same in grey. */
function heat(v: number): string {
  return `hsl(24 85% ${Math.round(96 - v * 56)}%)`;
}

export function HeatMap(p: { m: Similarity }) {
  const { names, values, shared } = p.m;
  if (names.length < 2) return <p class="muted">The heat map needs two OCI images or more.</p>;
  return (
    <div
      class="heat"
      style={{ gridTemplateColumns: `minmax(8rem, max-content) repeat(${names.length}, 2.4rem)` }}
    >
      <span />
      {names.map((n, i) => (
        <span key={n} class="heat-col" title={n}>
          {i + 1}
        </span>
      ))}
      {names.map((row, i) => [
        <span key={`r${row}`} class="heat-row" title={row}>
          {i + 1}. {row}
        </span>,
        ...names.map((col, j) => {
          const v = values[i]?.[j] ?? 0;
          return (
            <span
              key={`${row}|${col}`}
              class="heat-cell"
              data-value={v.toFixed(3)}
              style={{ background: heat(v), color: v > 0.6 ? '#fff' : '#222' }}
              title={`${row} ~ ${col}: ${(v * 100).toFixed(0)}% similar, ${shared[i]?.[j] ?? 0} layers shared`}
            >
              {Math.round(v * 100)}
            </span>
          );
        }),
      ])}
    </div>
  );
}

export function ImagesPage(p: { insight: boolean }) {
  const list = usePoll(
    async () =>
      p.insight
        ? (await api<{ images: ImageEntry[] }>('/v1/oci/images')).images
        : (
            await api<{ images: { name: string; sizeBytes: number; createdAt: number }[] }>('/v1/images')
          ).images.map(
            (i): ImageEntry => ({
              ...i,
              kind: 'rootfs',
              architectures: [],
              uniqueBytes: i.sizeBytes,
              sharedBytes: 0,
              layerCount: 0,
              usedBy: [],
            }),
          ),
    [p.insight],
    10_000,
  );
  const sim = usePoll(
    async () => (p.insight ? api<Similarity>('/v1/oci/similarity') : undefined),
    [p.insight],
    10_000,
  );
  return (
    <>
      <Section title="Images">
        <ErrorBox error={list.error} />
        {!list.data ? (
          <Loading what="images" />
        ) : list.data.length === 0 ? (
          <p class="muted">No images: pull one with `agni image pull REF` or import a rootfs.</p>
        ) : (
          <table data-table="images">
            <thead>
              <tr>
                <th>name</th>
                <th>kind</th>
                <th>architectures</th>
                <th>size</th>
                <th>unique</th>
                <th>layers</th>
                <th>used by</th>
                <th>created</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((i) => (
                <tr key={`${i.kind}:${i.name}`} data-image={i.name}>
                  <td>{i.name}</td>
                  <td>{i.kind}</td>
                  <td>{i.architectures.join(', ')}</td>
                  <td class="num">{formatBytes(i.sizeBytes)}</td>
                  <td class="num">{formatBytes(i.uniqueBytes)}</td>
                  <td class="num">{i.layerCount || ''}</td>
                  <td>{i.usedBy.join(', ')}</td>
                  <td>{formatTime(i.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      {p.insight && (
        <Section title="Layer similarity">
          <ErrorBox error={sim.error} />
          {sim.data ? <HeatMap m={sim.data} /> : <Loading what="similarity" />}
        </Section>
      )}
    </>
  );
}
