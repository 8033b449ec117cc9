/**
 * The requests the server is answering right now, so a shutdown that has to cut connections can
 * say which requests (and invocations) it cut.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export class OpenRequests {
  private readonly open = new Set<{ req: IncomingMessage; res: ServerResponse }>();

  /**
   * Tracked until both its response and its body are done: an answered request whose client still
   * sends (or pretends to) holds its connection as much as one waiting for its answer.
   */
  add(req: IncomingMessage, res: ServerResponse): void {
    const entry = { req, res };
    this.open.add(entry);
    let answered = false;
    let received = false;
    const forget = () => {
      if (answered && received) this.open.delete(entry);
    };
    res.once('close', () => {
      answered = true;
      forget();
    });
    // The body is done when it ends, or when its connection goes (an answered request's body is
    // then never closed itself). A kept-alive socket serves many requests: one listener at a time.
    const sock = req.socket;
    const bodyDone = () => {
      req.off('close', bodyDone);
      sock.off('close', bodyDone);
      received = true;
      forget();
    };
    req.once('close', bodyDone);
    sock.once('close', bodyDone);
  }

  get size(): number {
    return this.open.size;
  }

  /** `METHOD URL (invocations ID,...)` for each open request. */
  describe(): string[] {
    return [...this.open].map(({ req, res }) => {
      const ids = res.getHeader('agni-invocation-id') ?? res.getHeader('agni-invocation-ids');
      return `${req.method} ${req.url}${ids ? ` (invocations ${String(ids)})` : ''}`;
    });
  }
}
