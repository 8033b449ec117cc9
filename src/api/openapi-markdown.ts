/**
 * The route index of docs/api.md, rendered from /openapi.json (`npm run docs:api` writes it
 * between the markers; test/openapi.test.ts fails when the file and the server differ).
 */
export const INDEX_BEGIN = '<!-- BEGIN generated route index: npm run docs:api -->';
export const INDEX_END = '<!-- END generated route index -->';

interface Operation {
  summary?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: { name: string; in: string; required?: boolean }[];
  requestBody?: { content?: Record<string, unknown> };
  responses?: Record<string, { content?: Record<string, unknown> }>;
}

interface Doc {
  paths: Record<string, Record<string, Operation>>;
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

function bodyOf(op: Operation): string {
  const types = Object.keys(op.requestBody?.content ?? {});
  return types.map((t) => `\`${t}\``).join(', ');
}

function answerOf(op: Operation): string {
  const [status, r] = Object.entries(op.responses ?? {}).find(([s]) => s !== 'default') ?? ['', undefined];
  const types = Object.keys(r?.content ?? {});
  return status ? `${status} ${types.map((t) => `\`${t}\``).join(', ')}`.trim() : '';
}

export function routeIndexMarkdown(doc: Doc): string {
  const rows: { tag: string; line: string }[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const query = (op.parameters ?? [])
        .filter((p) => p.in === 'query')
        .map((p) => (p.required ? p.name : `${p.name}?`));
      const what = `\`${method.toUpperCase()} ${path}\``;
      const open = op.security && op.security.length === 0 ? ' (no token)' : '';
      rows.push({
        tag: op.tags?.[0] ?? 'other',
        line: `| ${what} | ${cell(op.summary ?? '')}${open} | ${query.map((q) => `\`${q}\``).join(' ')} | ${bodyOf(op)} | ${answerOf(op)} |`,
      });
    }
  }
  const tags = [...new Set(rows.map((r) => r.tag))].sort();
  const out = [
    INDEX_BEGIN,
    '',
    'Every route the server registers, from `GET /openapi.json` (OpenAPI 3.1). Generated: edit',
    '`src/api/route-docs.ts` and run `npm run docs:api`; `test/openapi.test.ts` fails when this',
    'index and the server differ.',
    '',
  ];
  for (const tag of tags) {
    out.push(`### ${tag}`, '', '| route | what | query | body | answer |', '| --- | --- | --- | --- | --- |');
    for (const r of rows.filter((x) => x.tag === tag)) out.push(r.line);
    out.push('');
  }
  out.push(INDEX_END);
  return out.join('\n');
}

/** `md` with its generated index replaced by `index` (appended under a heading when absent). */
export function withRouteIndex(md: string, index: string): string {
  const a = md.indexOf(INDEX_BEGIN);
  const b = md.indexOf(INDEX_END);
  if (a >= 0 && b > a) return md.slice(0, a) + index + md.slice(b + INDEX_END.length);
  return `${md.replace(/\n*$/, '\n')}\n## Route index\n\n${index}\n`;
}
