/**
 * The dashboard's one way to the API: same-origin fetches with the token from sessionStorage as
 * `Authorization: Bearer`. A 401 signs the page out (the login form comes back).
 */
const KEY = 'agni.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

type Listener = () => void;
const signedOut = new Set<Listener>();

export function onSignedOut(f: Listener): () => void {
  signedOut.add(f);
  return () => signedOut.delete(f);
}

export function getToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setToken(t: string | null): void {
  if (t === null) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, t);
}

export async function api<T>(
  path: string,
  init: RequestInit & { json?: unknown; token?: string } = {},
): Promise<T> {
  const headers = new Headers(init.headers);
  const token = init.token ?? getToken();
  if (token) headers.set('authorization', `Bearer ${token}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  const res = await fetch(path, { ...init, headers, body, credentials: 'same-origin' });
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = text;
  }
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string; hint?: string } })?.error;
    if (res.status === 401 && init.token === undefined) {
      setToken(null);
      for (const f of signedOut) f();
    }
    throw new ApiError(
      res.status,
      e?.code ?? 'http_error',
      e?.message ?? `${res.status} ${res.statusText}`,
      e?.hint,
    );
  }
  return data as T;
}

/** What the server offers, before any token: GET /ui/server.json. */
export interface ServerInfo {
  tokenRequired: boolean;
  features: { jobs: boolean; triggers: boolean; images: boolean; nodes: boolean; bench: boolean };
}

export async function serverInfo(): Promise<ServerInfo> {
  return api<ServerInfo>('/ui/server.json', { token: '' });
}
