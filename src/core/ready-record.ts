import { copyFieldText, type CopyText } from './copy-text';
import type { EntityRow } from './record';

/**
 * A record a source made from its own wire text, already as the core stores it: the name, the source_id and the
 * vertical_data document, each having passed every check `normalizeRecord` makes, so preparing it is only its dedup key.
 * A source makes one only when it can prove the checks (see postgresql-copy-records.ts); any row it cannot, it hands
 * over as an ordinary row. It is held as the COPY text of its fields (name, source_id, dedup key, document) in a buffer
 * the source shares among many, which a first load's COPY sends as it is (`copyTo`); the name and the document are made
 * strings only when something asks (an upsert, a schema). Given a schema to validate against, the core takes it as the
 * record it stands for (`toRecord`).
 */
export class ReadyRecord implements EntityRow {
  readonly sourceId: string;
  readonly dedupKey: string;
  #name: string | null = null;
  #data: string | null = null;

  /**
   * `bytes[from, to)`: the fields, each followed by a tab but the last: the name up to `nameEnd`, then the source_id and
   * the dedup key, then from `dataFrom` the document, its JSON's every backslash doubled (JSON holds no tab or line break).
   */
  constructor(
    sourceId: string,
    private readonly bytes: Buffer,
    private readonly from: number,
    private readonly nameEnd: number,
    private readonly dataFrom: number,
    private readonly to: number,
  ) {
    this.sourceId = sourceId;
    this.dedupKey = 's:' + sourceId;
  }

  get name(): string {
    return (this.#name ??= copyFieldText(this.bytes, this.from, this.nameEnd)!);
  }

  /** vertical_data as JSON text; its values are those the parsed record would hold. */
  get data(): string {
    return (this.#data ??= this.bytes.toString('utf8', this.dataFrom, this.to).replaceAll('\\\\', '\\'));
  }

  /** Its fields (name, source_id, dedup key, document) as COPY text, tab-separated. */
  copyTo(text: CopyText): void {
    text.copy(this.bytes, this.from, this.to);
  }

  /** The record it stands for, as a mapper would have made it. */
  toRecord(): { name: string; source_id: string; vertical_data: Record<string, unknown> } {
    return { name: this.name, source_id: this.sourceId, vertical_data: JSON.parse(this.data) as Record<string, unknown> };
  }
}
