/**
 * The connection to NATS for subject triggers: opened only while some trigger needs it, retried
 * until it works (with a warning per new failure, never the URL's credentials), and re-subscribing
 * every trigger after each (re)connect. nats.js does the reconnecting once a first connect worked.
 */
import { connect, type Msg, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from 'pino';
import { type NatsState, type NatsStatus, redactUrl } from './trigger-view.js';

export interface SubjectSubscription {
  subject: string;
  queue: string;
  onMessage(msg: Msg, nc: NatsConnection): void;
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 15_000;
const CONNECT_TIMEOUT_MS = 3_000;

export class NatsLink {
  private nc: NatsConnection | undefined;
  private readonly wanted = new Map<string, SubjectSubscription>();
  private readonly live = new Map<string, Subscription>();
  private state: NatsState = 'idle';
  private error: string | undefined;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
  ) {}

  status(): NatsStatus {
    return { url: redactUrl(this.url), state: this.state, ...(this.error ? { error: this.error } : {}) };
  }

  get needed(): boolean {
    return this.wanted.size > 0;
  }

  /** subscribes now when connected, else as soon as the connection is up */
  add(key: string, s: SubjectSubscription): void {
    if (this.closed) return;
    this.remove(key);
    this.wanted.set(key, s);
    // While reconnecting nats.js takes subscriptions and sends them once the server is back.
    if (this.nc && !this.nc.isClosed() && !this.nc.isDraining()) this.subscribe(this.nc, key, s);
    this.ensureRunning();
  }

  private ensureRunning(): void {
    if (this.running || this.closed || this.wanted.size === 0) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      // A trigger added while the loop was winding down still gets its connection.
      this.ensureRunning();
    });
  }

  remove(key: string): void {
    this.wanted.delete(key);
    const sub = this.live.get(key);
    this.live.delete(key);
    sub?.unsubscribe();
    if (this.wanted.size === 0) this.hangUp();
  }

  /** stops taking messages (running handlers may still answer until close) */
  stopListening(): void {
    for (const key of [...this.live.keys()]) {
      this.live.get(key)?.unsubscribe();
      this.live.delete(key);
    }
    this.wanted.clear();
  }

  /** flushes what handlers published and closes the connection; safe to call twice */
  async close(): Promise<void> {
    this.closed = true;
    this.stopListening();
    this.hangUp();
    await this.running;
    this.setState('closed');
  }

  private hangUp(): void {
    this.wake?.();
    // drain() flushes replies already published; the loop sees closed() resolve and stops.
    if (this.nc && !this.nc.isClosed() && !this.nc.isDraining()) this.nc.drain().catch(() => undefined);
  }

  private setState(state: NatsState, error?: string): void {
    this.state = state;
    this.error = error;
  }

  private subscribe(nc: NatsConnection, key: string, s: SubjectSubscription): void {
    const sub = nc.subscribe(s.subject, {
      queue: s.queue,
      callback: (err, msg) => {
        if (err) this.logger.warn({ subject: s.subject, err: err.message }, 'nats: subscription error');
        else s.onMessage(msg, nc);
      },
    });
    this.live.set(key, sub);
  }

  private async loop(): Promise<void> {
    let delay = FIRST_RETRY_MS;
    let warned: string | undefined;
    while (!this.closed && this.wanted.size > 0) {
      this.setState('connecting', this.error);
      let nc: NatsConnection;
      try {
        nc = await connect({
          servers: this.url,
          name: 'agni',
          timeout: CONNECT_TIMEOUT_MS,
          reconnect: true,
          maxReconnectAttempts: -1,
        });
      } catch (e) {
        const msg = (e as Error).message;
        this.setState('unreachable', msg);
        if (warned !== msg) {
          this.logger.warn(
            { nats: redactUrl(this.url), err: msg },
            'nats: cannot connect; subject triggers wait, retrying',
          );
          warned = msg;
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = undefined;
        delay = Math.min(delay * 2, MAX_RETRY_MS);
        continue;
      }
      if (this.closed || this.wanted.size === 0) {
        await nc.close();
        break;
      }
      this.nc = nc;
      delay = FIRST_RETRY_MS;
      if (warned) this.logger.info({ nats: redactUrl(this.url) }, 'nats: connected');
      warned = undefined;
      this.setState('connected');
      for (const [key, s] of this.wanted) this.subscribe(nc, key, s);
      void this.watch(nc);
      const err = await nc.closed();
      this.nc = undefined;
      this.live.clear();
      if (err) this.setState('unreachable', err.message);
    }
    if (!this.closed) this.setState('idle');
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.setState('reconnecting', 'disconnected from the server');
        this.logger.warn({ nats: redactUrl(this.url) }, 'nats: disconnected; reconnecting');
      } else if (s.type === 'reconnect') {
        this.setState('connected');
        this.logger.info({ nats: redactUrl(this.url) }, 'nats: reconnected');
      } else if (s.type === 'error') {
        this.error = String(s.data);
      }
    }
  }
}
