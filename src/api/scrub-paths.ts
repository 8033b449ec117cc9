/**
 * A last resort for error answers: where a message still carries a path under $AGNI_HOME (an OS
 * or runc error quoted whole), the path is cut to `$AGNI_HOME/...`, so a client never learns the
 * server's layout. Messages should not name host paths in the first place.
 */
export function scrubPaths<T>(body: T, home: string): T {
  const root = home.replace(/\/+$/, '');
  if (root === '' || root === '/') return body;
  const text = JSON.stringify(body);
  // The path as it appears inside a JSON string (a `"` or `\` in it escaped).
  const json = JSON.stringify(root).slice(1, -1);
  if (!text.includes(json)) return body;
  return JSON.parse(text.split(json).join('$AGNI_HOME')) as T;
}
