/** A batch written beside the one before it found that one had not committed: it rolled back, and is written again after it. */
export class PreviousBatchNotCommitted extends Error {
  constructor() {
    super('the batch before this one did not commit');
    this.name = 'PreviousBatchNotCommitted';
  }
}

export interface OrderedWrites<B> {
  /** Whether `next` may be written while `previous` still is (false: it waits until `previous` has committed). */
  mayFollow(previous: B, next: B): boolean;
  /**
   * Writes and commits one batch. With `previous` (still being written), its transaction must commit only after
   * that one's, and throw `PreviousBatchNotCommitted` when that one rolled back.
   */
  write(batch: B, previous: B | null): Promise<void>;
  /** Called once per batch, in order, after it and every batch before it committed; resolves to true to stop there. */
  committed(batch: B): Promise<boolean> | boolean;
}

interface InFlight<B> {
  batch: B;
  /** Its write: settles when its transaction has committed or given up. */
  write: Promise<void>;
  /** It and every batch before it committed and were reported; true to stop. */
  done: Promise<boolean>;
  settled: boolean;
}

function start<B>(batch: B, before: InFlight<B> | null, o: OrderedWrites<B>): InFlight<B> {
  const write = o.write(batch, before ? before.batch : null).catch(async (err: unknown) => {
    if (!(before && err instanceof PreviousBatchNotCommitted)) throw err;
    await before.done; // rejects with the earlier batch's own failure when that is why it rolled back
    return o.write(batch, null);
  });
  write.catch(() => {}); // awaited by `done` and by writeInOrder; an early failure is not an unhandled one
  const entry: InFlight<B> = { batch, write, settled: false, done: Promise.resolve(false) };
  entry.done = (async () => {
    const stop = before ? await before.done : false;
    await write;
    return (await o.committed(batch)) || stop;
  })();
  const settle = () => (entry.settled = true);
  entry.done.then(settle, settle);
  return entry;
}

/**
 * Writes `batches` with at most two in flight, committed in their order: a batch commits only after every batch
 * before it, so a crash at any moment leaves a prefix of them committed. Resolves to 'stopped' when `committed`
 * asked to stop (what was already being written commits first), 'done' at the end; rejects with the first failure
 * in order, once nothing it started is still writing.
 */
export async function writeInOrder<B>(batches: AsyncIterable<B>, o: OrderedWrites<B>): Promise<'done' | 'stopped'> {
  let last: InFlight<B> | null = null;
  for await (const batch of batches) {
    // One that has finished already: its failure, or its wish to stop, ends the loop before anything follows it.
    if (last?.settled && (await last.done)) return 'stopped';
    let before: InFlight<B> | null = last && !last.settled ? last : null;
    if (before && !o.mayFollow(before.batch, batch)) {
      if (await before.done) return 'stopped';
      before = null;
    }
    const current: InFlight<B> = start(batch, before, o);
    last = current;
    if (!before) continue;
    // Two in flight: the next batch is taken only once the earlier of them has committed.
    const stop = await before.done.catch(async (err: unknown) => {
      await current.write.catch(() => {});
      throw err;
    });
    if (stop) {
      await current.done;
      return 'stopped';
    }
  }
  return last && (await last.done) ? 'stopped' : 'done';
}
