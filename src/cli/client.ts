/** The CLI's only way into Agni: the HTTP API at AGNI_URL. */
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { DEFAULT_URL } from '../app/config.js';
import { AgniError, ERROR_STATUS, type ErrorCode } from '../core/errors.js';
import { checkServerUrl, networkError } from './net-errors.js';

export interface InvokeResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
}

export function errorFromBody(status: number, text: string): AgniError {
  try {
    const j = JSON.parse(text) as {
      error?: { code?: string; message?: string; hint?: string; details?: Record<string, unknown> };
    };
    if (j.error?.code && j.error.code in ERROR_STATUS) {
      return new AgniError(j.error.code as ErrorCode, j.error.message ?? 'request failed', {
        hint: j.error.hint,
        details: j.error.details,
      });
    }
  } catch {
    // not JSON: fall through
  }
  return new AgniError(
    status >= 500 ? 'internal' : 'bad_request',
    `server answered ${status}: ${text.slice(0, 300)}`,
  );
}

export class ApiClient {
  readonly url: string;
  private readonly token: string | undefined;

  constructor(url = process.env.AGNI_URL || DEFAULT_URL, token = process.env.AGNI_TOKEN) {
    this.url = checkServerUrl(url);
    this.token = token || undefined;
  }

  /** A failure on the way to or from the server, named (a bug's error passes through as is). */
  netError(e: unknown): unknown {
    return networkError(e, this.url) ?? e;
  }

  authHeaders(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  /**
   * A JSON request (with an optional JSON body) and its parsed JSON answer; errors become AgniErrors.
   * Over node:http, not fetch: Node loads fetch's implementation (undici) on its first use, which
   * cost every command that talks to the server 60 to 100 ms of its start here.
   */
  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res =
      body === undefined
        ? await this.request(method, path, Buffer.alloc(0), '', {})
        : await this.request(method, path, Buffer.from(JSON.stringify(body)), 'application/json');
    const text = await this.readAll(res.body);
    if (res.status < 200 || res.status >= 300) throw errorFromBody(res.status, text);
    return JSON.parse(text) as T;
  }

  /** Streams `body` as the request; used for tar uploads and invocation payloads. */
  request(
    method: string,
    path: string,
    body: Buffer | Readable,
    contentType: string,
    extra: Record<string, string> = {},
  ): Promise<InvokeResponse> {
    const u = new URL(this.url + path);
    const mod = u.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        u,
        { method, headers: this.headers(contentType ? { 'content-type': contentType, ...extra } : extra) },
        (res) => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
        },
      );
      req.on('error', (e) => reject(this.netError(e)));
      if (Buffer.isBuffer(body)) req.end(body);
      else {
        // Headers go out now, not with the first body byte: the server starts work (a pipe's
        // stages) while the body is still to come.
        req.flushHeaders();
        body.pipe(req);
      }
    });
  }

  async upload<T>(
    path: string,
    body: Readable,
    contentType: string,
    extra: Record<string, string> = {},
  ): Promise<T> {
    const res = await this.request('POST', path, body, contentType, extra);
    const text = await this.readAll(res.body);
    if (res.status >= 300) throw errorFromBody(res.status, text);
    return JSON.parse(text) as T;
  }

  /** A response body read to its end; a cut connection becomes a named error. */
  async readAll(s: Readable): Promise<string> {
    try {
      return await readAll(s);
    } catch (e) {
      throw this.netError(e);
    }
  }
}

export async function readAll(s: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
