/**
 * Yields what `source` yields, asking it for the next item as soon as one is handed out: the source reads
 * its next page while the pull commits the current one. At most two items are alive at once. When the
 * consumer stops early, the read in flight settles first and then the source is ended (its cursor or
 * transaction closed).
 */
export async function* readAhead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let next = it.next();
  let finished = false;
  try {
    for (;;) {
      const r = await next;
      if (r.done) {
        finished = true;
        return;
      }
      next = it.next();
      next.catch(() => {}); // a failed read surfaces when it is awaited, after the current item is committed
      yield r.value;
    }
  } finally {
    if (!finished) {
      await next.catch(() => {});
      await it.return?.();
    }
  }
}
