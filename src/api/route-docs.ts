import type { z } from 'zod';
export type RouteBody = z.ZodType | 'tar' | 'bytes';
export type RouteReply = 'json' | 'bytes' | 'tar' | 'ndjson' | 'sse' | 'text';
export interface RouteDoc {
  summary: string;
  tag: string;
  body?: RouteBody;
  query?: z.ZodObject;
  reply?: RouteReply;
  status?: number;
  open?: boolean;
}
export function routeKey(method: string, url: string): string {
  return `${method.toUpperCase()} ${url}`;
}
export const ROUTE_DOCS: Record<string, RouteDoc> = {};
