import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jaccard, similarityMatrix, similarityTable } from './similarity.js';
import { escapeXml, heatColor, similaritySvg } from './similarity-svg.js';

test('jaccard: |A∩B| / |A∪B|, and two empty sets are equal', () => {
  assert.equal(jaccard(new Set(['a', 'b']), new Set(['b', 'c'])), 1 / 3);
  assert.equal(jaccard(new Set(['a']), new Set(['a', 'b'])), 1 / 2);
  assert.equal(jaccard(new Set(['a']), new Set(['b'])), 0);
  assert.equal(jaccard(new Set(), new Set(['b'])), 0);
  assert.equal(jaccard(new Set(), new Set()), 1);
});

test('the matrix is symmetric with 1 on the diagonal; duplicate layers count once', () => {
  const m = similarityMatrix([
    { name: 'base', layers: ['L1'] },
    { name: 'app', layers: ['L1', 'L2', 'L2'] },
    { name: 'tool', layers: ['L1', 'L3'] },
    { name: 'empty', layers: [] },
  ]);
  assert.deepEqual(m.values, [
    [1, 1 / 2, 1 / 2, 0],
    [1 / 2, 1, 1 / 3, 0],
    [1 / 2, 1 / 3, 1, 0],
    [0, 0, 0, 1],
  ]);
  assert.deepEqual(m.shared[1], [1, 2, 1, 0]);
  const t = similarityTable(m);
  assert.deepEqual(t.headers, ['#', 'IMAGE', '1', '2', '3', '4']);
  assert.deepEqual(t.rows[1], ['2', 'app', '0.50', '1.00', '0.33', '0.00']);
});

test('heat colours run from the light end to the dark end of the scale', () => {
  assert.equal(heatColor(0), '#f7fbff');
  assert.equal(heatColor(1), '#08306b');
  assert.equal(heatColor(-3), '#f7fbff');
  assert.equal(heatColor(Number.NaN), '#f7fbff');
  const mid = heatColor(0.5);
  assert.match(mid, /^#[0-9a-f]{6}$/);
  assert.notEqual(mid, heatColor(0.49));
});

/**
 * A tiny XML well-formedness check: tags nest and close, attributes are quoted, no raw `<` or
 * stray `&` in text or attribute values. Returns the element names in document order.
 */
function wellFormed(xml: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  const tokens =
    /<!--[\s\S]*?-->|<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|<|&(?!(?:lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);)/g;
  let last = 0;
  for (let m = tokens.exec(xml); m; m = tokens.exec(xml)) {
    if (m[0] === '<') throw new Error(`bad markup at ${m.index}: ${xml.slice(m.index, m.index + 40)}`);
    if (m[0].startsWith('&')) throw new Error(`unescaped & at ${m.index}`);
    if (m[0].startsWith('<!--')) continue;
    const [, close, name, , selfClose] = m;
    if (stack.length === 0 && names.length > 0 && !close) throw new Error('more than one root element');
    if (close) {
      if (stack.pop() !== name) throw new Error(`</${name}> closes the wrong element at ${m.index}`);
    } else {
      names.push(name!);
      if (!selfClose) stack.push(name!);
    }
    last = m.index + m[0].length;
  }
  if (stack.length) throw new Error(`unclosed: ${stack.join(', ')}`);
  if (xml.slice(last).trim()) throw new Error('text after the root element');
  return names;
}

test('the tiny well-formedness check itself catches broken markup', () => {
  assert.deepEqual(wellFormed('<a x="1"><b/>t &amp; u</a>'), ['a', 'b']);
  assert.throws(() => wellFormed('<a><b></a></b>'), /wrong element/);
  assert.throws(() => wellFormed('<a>x < y</a>'), /bad markup/);
  assert.throws(() => wellFormed('<a>R&D</a>'), /unescaped &/);
  assert.throws(() => wellFormed('<a x=1></a>'), /bad markup/);
  assert.throws(() => wellFormed('<a>'), /unclosed/);
});

test('the SVG is well-formed, escapes names, and has a cell with its value per pair', () => {
  const names = ['reg/base:1', 'reg/app:<v2>&"x"', "o'brien/tool:3"];
  const m = similarityMatrix([
    { name: names[0]!, layers: ['L1'] },
    { name: names[1]!, layers: ['L1', 'L2'] },
    { name: names[2]!, layers: ['L1', 'L3', 'L4'] },
  ]);
  const svg = similaritySvg(m, 'Layers & <friends>');
  const elements = wellFormed(svg);
  assert.equal(elements[0], 'svg');
  assert.ok(svg.includes('reg/app:&lt;v2&gt;&amp;&quot;x&quot;'));
  assert.ok(svg.includes('o&apos;brien/tool:3'));
  assert.ok(svg.includes('Layers &amp; &lt;friends&gt;'));
  assert.ok(!svg.includes('<v2>'));
  const cells = [
    ...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="56" height="56" fill="(#[0-9a-f]{6})"/g),
  ];
  assert.equal(cells.length, 9);
  const values = [...svg.matchAll(/text-anchor="middle" fill="\w+">([\d.]+)<\/text><\/g>/g)].map((x) => x[1]);
  assert.deepEqual(values, ['1.00', '0.50', '0.33', '0.50', '1.00', '0.25', '0.33', '0.25', '1.00']);
  assert.equal(cells[1]![1], heatColor(0.5));
  assert.ok(elements.includes('linearGradient'), 'a colour scale');
  assert.ok(!/href|<script|@import|url\((?!#scale\))/.test(svg), 'self-contained');
});

test('escapeXml covers the five XML specials', () => {
  assert.equal(escapeXml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
});

test('an SVG of no images is still well-formed', () => {
  assert.equal(wellFormed(similaritySvg(similarityMatrix([])))[0], 'svg');
});
