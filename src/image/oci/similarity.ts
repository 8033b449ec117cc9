/**
 * How much images overlap: the Jaccard index |A∩B| / |A∪B| of their layer-digest sets (pure).
 * Layers are compared by digest only, so a shared base counts whatever its size. The diagonal is
 * 1, and two images without layers are equal sets, so they score 1 too (not 0/0).
 */

export interface SimilarityImage {
  name: string;
  layers: readonly string[];
}

export interface SimilarityMatrix {
  names: string[];
  /** values[i][j]: similarity of names[i] and names[j], in [0, 1], symmetric */
  values: number[][];
  /** shared[i][j]: how many distinct layer digests the two have in common */
  shared: number[][];
}

export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let common = 0;
  for (const d of a) if (b.has(d)) common++;
  return common / (a.size + b.size - common);
}

export function similarityMatrix(images: SimilarityImage[]): SimilarityMatrix {
  const sets = images.map((i) => new Set(i.layers));
  const values = sets.map((a, i) => sets.map((b, j) => (i === j ? 1 : jaccard(a, b))));
  const shared = sets.map((a) => sets.map((b) => [...a].filter((d) => b.has(d)).length));
  return { names: images.map((i) => i.name), values, shared };
}

/**
 * The matrix as a text table with two decimals. Columns are numbered (names are long references)
 * and each row starts with its number and name.
 */
export function similarityTable(m: SimilarityMatrix): { headers: string[]; rows: string[][] } {
  return {
    headers: ['#', 'IMAGE', ...m.names.map((_, i) => String(i + 1))],
    rows: m.names.map((n, i) => [String(i + 1), n, ...m.values[i]!.map((v) => v.toFixed(2))]),
  };
}
