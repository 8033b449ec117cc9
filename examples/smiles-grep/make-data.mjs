#!/usr/bin/env node
// The data step of the smiles-grep example: writes synthetic but plausible SMILES, one molecule
// a line, split into shard files for `agni map`. Plain Node, no dependencies.
//
//   node examples/smiles-grep/make-data.mjs [--lines 3000000] [--shards 24] [--out smiles-data] [--seed 42]
//
// Deterministic: the same --seed and --lines give the same lines in the same order whatever
// --shards is (shards are consecutive slices), so results can be checked against a plain grep.
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** mulberry32: a small, fast, well-distributed 32-bit PRNG; returns floats in [0, 1). */
export function makeRng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** [weight, text] pairs → a picker that draws one text by weight. */
function weighted(pairs) {
  const total = pairs.reduce((s, [w]) => s + w, 0);
  const cum = [];
  let acc = 0;
  for (const [w, text] of pairs) {
    acc += w / total;
    cum.push([acc, text]);
  }
  return (rng) => {
    const r = rng();
    for (const [c, text] of cum) if (r < c) return text;
    return cum[cum.length - 1][1];
  };
}

// Fragments are written so that concatenating them gives valid SMILES: each is a path with an
// open bond at both ends, and every ring it opens it also closes (ring digits may then be reused).
const start = weighted([
  [6, 'C'],
  [4, 'CC'],
  [2, 'CC(C)'],
  [2, 'O'],
  [2, 'N'],
  [1, 'CN(C)'],
  [1, 'COc1ccc(cc1)'],
  [1, 'FC(F)(F)'],
  [1, 'Clc1ccccc1'],
  [5, 'c1ccccc1'],
  [2, 'c1ccncc1'],
  [1, 'C1CCCCC1'],
  [1, 'N1CCOCC1'],
  [1, 'O=C(O)'],
]);

const substituent = weighted([
  [4, 'F'],
  [3, 'Cl'],
  [1, 'Br'],
  [3, 'C'],
  [3, 'O'],
  [2, 'OC'],
  [2, 'N'],
  [1, 'C#N'],
  [1, 'C(F)(F)F'],
  [1, '[N+](=O)[O-]'],
  [1, 'C(=O)N'],
  [1, '-c2ccccc2'],
  [1, 'S(=O)(=O)N'],
]);

const middle = weighted([
  [8, 'C'],
  [4, 'CC'],
  [2, 'C(C)'],
  [1, '[C@@H](C)'],
  [1, '[C@H](N)'],
  [1, 'C=C'],
  [2, 'O'],
  [2, 'N'],
  [1, 'N(C)'],
  [1, 'S'],
  [3, 'C(=O)N'],
  [2, 'NC(=O)'],
  [2, 'C(=O)O'],
  [2, 'OC(=O)'],
  [1, 'C(=O)'],
  [1, 'S(=O)(=O)N'],
  [5, 'c1ccccc1'],
  [3, 'c1ccc(*)cc1'],
  [2, 'c1ccncc1'],
  [1, 'c1ccoc1'],
  [1, 'c1ccsc1'],
  [1, 'c1cn[nH]c1'],
  [1, 'c1ccc2ccccc2c1'],
  [2, 'C1CCCCC1'],
  [2, 'C1CCNCC1'],
  [1, 'C1CCOCC1'],
  [1, 'C1CC1'],
  [1, 'N1CCN(*)CC1'],
  [2, 'C(*)'],
]);

const end = weighted([
  [4, ''],
  [3, 'C'],
  [2, 'O'],
  [2, 'N'],
  [2, 'F'],
  [1, 'Cl'],
  [1, 'Br'],
  [2, 'C(=O)O'],
  [1, 'C(=O)[O-]'],
  [2, 'C(=O)N'],
  [1, 'C(=O)NC'],
  [1, 'C#N'],
  [1, '[NH3+]'],
  [1, '[N+](C)(C)C'],
  [1, 'C(F)(F)F'],
]);

/** One SMILES line (no newline) drawn from `rng`: rings, branches, heteroatoms, charges, salts. */
export function smiles(rng) {
  let s = start(rng);
  const n = 1 + Math.floor(rng() * 5);
  for (let i = 0; i < n; i++) s += middle(rng).replace('*', () => substituent(rng));
  s += end(rng);
  // Charged molecules often come as salts: a disconnected counter-ion after a dot.
  if (s.includes('-]') && rng() < 0.5) s += rng() < 0.7 ? '.[Na+]' : '.[K+]';
  else if (s.includes('+]') && !s.includes('-]') && rng() < 0.5) s += '.[Cl-]';
  return s;
}

/** How many lines each of `shards` consecutive shards gets: as even as possible, larger first. */
export function shardSizes(lines, shards) {
  const base = Math.floor(lines / shards);
  const extra = lines % shards;
  return Array.from({ length: shards }, (_, i) => base + (i < extra ? 1 : 0));
}

/** File name of shard `i` of `shards`, zero-padded so a sorted listing is input order. */
export function shardName(i, shards) {
  return `shard-${String(i).padStart(Math.max(3, String(shards - 1).length), '0')}.smi`;
}

function positiveInt(flag, text, max) {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > max)
    throw new Error(`--${flag}: expected a whole number from 1 to ${max} (got "${text}")`);
  return n;
}

/** Writes the shards; streams in chunks so memory stays flat whatever --lines is. */
export function writeShards({ lines, shards, out, seed }) {
  mkdirSync(out, { recursive: true });
  // A rerun with another --shards must not leave stale shards behind for `agni map DIR`.
  for (const f of readdirSync(out)) if (/^shard-\d+\.smi$/.test(f)) rmSync(join(out, f));
  const rng = makeRng(seed);
  const files = [];
  let bytes = 0;
  shardSizes(lines, shards).forEach((size, i) => {
    const file = join(out, shardName(i, shards));
    const fd = openSync(file, 'w');
    try {
      let chunk = '';
      for (let j = 0; j < size; j++) {
        chunk += `${smiles(rng)}\n`;
        if (chunk.length >= 1 << 20) {
          bytes += writeSync(fd, chunk);
          chunk = '';
        }
      }
      bytes += writeSync(fd, chunk);
    } finally {
      closeSync(fd);
    }
    files.push(file);
  });
  return { files, bytes };
}

function main() {
  const { values } = parseArgs({
    options: {
      lines: { type: 'string', default: '3000000' },
      shards: { type: 'string', default: '24' },
      out: { type: 'string', default: 'smiles-data' },
      seed: { type: 'string', default: '42' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: node make-data.mjs [--lines 3000000] [--shards 24] [--out smiles-data] [--seed 42]\n' +
        'Writes LINES synthetic SMILES split into SHARDS files OUT/shard-NNN.smi.\n',
    );
    return;
  }
  const lines = positiveInt('lines', values.lines, 1e9);
  const shards = positiveInt('shards', values.shards, 100_000);
  const seed = positiveInt('seed', values.seed, 2 ** 32 - 1);
  if (shards > lines) throw new Error(`--shards ${shards}: more shards than --lines ${lines}`);
  const out = resolve(values.out);
  const t0 = performance.now();
  const { bytes } = writeShards({ lines, shards, out, seed });
  const s = (performance.now() - t0) / 1000;
  process.stderr.write(
    `make-data: ${lines} lines, ${(bytes / 1e6).toFixed(1)} MB in ${shards} shards under ${out} (${s.toFixed(1)} s)\n`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    main();
  } catch (e) {
    process.stderr.write(`make-data: ${e instanceof Error ? e.message : e}\n`);
    process.exitCode = 64;
  }
}
