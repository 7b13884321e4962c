import type { CopyBinary } from './copy-binary';
import type { EntityRow } from './record';

/**
 * A record a source made from its own wire text, already as the core stores it: the name, the source_id and the
 * vertical_data document, each having passed every check `normalizeRecord` makes, so preparing it is only its dedup key.
 * A source makes one only when it can prove the checks (see postgresql-copy-records.ts); any row it cannot, it hands
 * over as an ordinary row. It is held as its fields (name, source_id, dedup key, document) in COPY's binary format
 * (copy-binary.ts) in a buffer the source shares among many, which a first load's COPY sends as they are (`copyTo`); the
 * name and the document are made strings only when something asks (an upsert, a schema). Given a schema to validate
 * against, the core takes it as the record it stands for (`toRecord`).
 */
export class ReadyRecord implements EntityRow {
  readonly sourceId: string;
  readonly dedupKey: string;
  #name: string | null = null;
  #data: string | null = null;

  /**
   * `bytes[from, to)`: the four fields, each its length (4 bytes) and its bytes: the name, the source_id, the dedup key,
   * then the document (the jsonb version byte and the JSON text), which ends at `to`.
   */
  constructor(
    sourceId: string,
    private readonly bytes: Buffer,
    private readonly from: number,
    private readonly to: number,
  ) {
    this.sourceId = sourceId;
    this.dedupKey = 's:' + sourceId;
  }

  get name(): string {
    return (this.#name ??= this.bytes.toString('utf8', this.from + 4, this.from + 4 + this.bytes.readInt32BE(this.from)));
  }

  /** vertical_data as JSON text; its values are those the parsed record would hold. */
  get data(): string {
    if (this.#data !== null) return this.#data;
    let at = this.from;
    for (let field = 0; field < 3; field++) at += 4 + this.bytes.readInt32BE(at);
    return (this.#data = this.bytes.toString('utf8', at + 5, this.to));
  }

  /** Its fields (name, source_id, dedup key, document) in COPY's binary format. */
  copyTo(out: CopyBinary): void {
    out.copy(this.bytes, this.from, this.to);
  }

  /** The record it stands for, as a mapper would have made it. */
  toRecord(): { name: string; source_id: string; vertical_data: Record<string, unknown> } {
    return { name: this.name, source_id: this.sourceId, vertical_data: JSON.parse(this.data) as Record<string, unknown> };
  }
}
