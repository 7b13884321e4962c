import { createHash } from 'node:crypto';

/**
 * Driver pools kept across runs and shared by every connector that connects the same way (the same connection
 * settings, credentials included, to the same checked addresses): many small tables of one database then read over
 * a few warm connections instead of each run building a pool, resolving, connecting and logging in.
 *
 * The source is still checked before every run (`SourceReach`): the addresses it checked are part of the key, so a
 * name that resolves elsewhere now gets a pool of its own, and changed settings never meet an old pool. A pool no
 * run has used for `idleMs` is closed, a pool older than `maxAgeMs` takes no new runs (it closes when its last run
 * is done), and at most `maxIdle` unused pools are kept.
 */
export class SharedPools<P> {
  private readonly entries = new Map<string, Entry<P>>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly end: (pool: P) => Promise<void>,
    private readonly o: { idleMs: number; maxAgeMs: number; maxIdle: number },
  ) {}

  /** The pool for `settings` (hashed: it holds secrets and is never kept as text), made by `create` when there is none. */
  acquire(settings: unknown, create: () => P): Lease<P> {
    const key = createHash('sha256').update(JSON.stringify(settings)).digest('hex');
    const now = Date.now();
    let entry = this.entries.get(key);
    if (entry && now - entry.created >= this.o.maxAgeMs) {
      this.retire(key, entry);
      entry = undefined;
    }
    if (entry) entry.refs++;
    else {
      entry = { pool: create(), refs: 1, created: now, used: now, retired: false };
      this.entries.set(key, entry);
      this.sweep();
    }
    const leased = entry;
    let released = false;
    return {
      pool: leased.pool,
      release: (discard = false) => {
        if (released) return;
        released = true;
        leased.refs--;
        leased.used = Date.now();
        if (discard && this.entries.get(key) === leased) this.retire(key, leased, false);
        if (leased.retired && leased.refs === 0) void this.end(leased.pool).catch(() => {});
        this.schedule();
      },
    };
  }

  /** Closes every pool (a worker shutting down); pools still leased close when released. */
  async close(): Promise<void> {
    if (this.sweeper) clearTimeout(this.sweeper);
    this.sweeper = null;
    const idle = [...this.entries].filter(([, e]) => e.refs === 0);
    for (const [key, entry] of this.entries) this.retire(key, entry, false);
    await Promise.all(idle.map(([, e]) => this.end(e.pool).catch(() => {})));
  }

  /** Pools in use and kept, for tests and metrics. */
  get size(): number {
    return this.entries.size;
  }

  private retire(key: string, entry: Entry<P>, endNow = true): void {
    this.entries.delete(key);
    entry.retired = true;
    if (endNow && entry.refs === 0) void this.end(entry.pool).catch(() => {});
  }

  /** Closes pools idle too long, then the least recently used idle ones beyond `maxIdle`. */
  private sweep(): void {
    const now = Date.now();
    const idle = [...this.entries].filter(([, e]) => e.refs === 0).sort((a, b) => a[1].used - b[1].used);
    idle.forEach(([key, entry], i) => {
      if (now - entry.used >= this.o.idleMs || idle.length - i > this.o.maxIdle) this.retire(key, entry);
    });
    this.schedule();
  }

  private schedule(): void {
    if (this.sweeper || this.entries.size === 0) return;
    this.sweeper = setTimeout(() => {
      this.sweeper = null;
      this.sweep();
    }, this.o.idleMs / 2);
    this.sweeper.unref();
  }
}

export interface Lease<P> {
  pool: P;
  /** Hands the pool back (once; later calls do nothing); `discard`: no later run gets it (it failed), it closes when unused. */
  release(discard?: boolean): void;
}

interface Entry<P> {
  pool: P;
  refs: number;
  created: number;
  used: number;
  retired: boolean;
}
