/**
 * Records accepted by streams but not yet written, across the whole server. Each stream stops reading
 * its socket while it writes, so this stays small unless many streams run at once; past the limit new
 * streams are told to come back later (429) instead of growing memory without bound.
 */
export class PendingRecords {
  private count = 0;
  constructor(readonly limit: number) {}
  get size(): number {
    return this.count;
  }
  get full(): boolean {
    return this.count >= this.limit;
  }
  add(n: number): void {
    this.count += n;
  }
  remove(n: number): void {
    this.count -= n;
  }
}
