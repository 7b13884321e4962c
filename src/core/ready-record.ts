import type { EntityRow } from './record';

/**
 * A record a source made from its own wire text, already as the core stores it: the name, the source_id and the
 * vertical_data document, each having passed every check `normalizeRecord` makes, so preparing it is only its dedup key.
 * A source makes one only when it can prove the checks (see postgresql-copy-records.ts); any row it cannot, it hands
 * over as an ordinary row. The document comes as the bytes of a COPY text field, which a first load's COPY sends as they
 * are; anything else reads it as JSON text (`data`). Given a schema to validate against, the core takes it as the
 * record it stands for (`toRecord`).
 */
export class ReadyRecord implements EntityRow {
  readonly name: string;
  readonly sourceId: string;
  readonly dedupKey: string;
  /** vertical_data as one field of COPY's text format: its JSON, every backslash doubled (JSON holds no tab or line break). */
  readonly copyData: Buffer;
  #data: string | null = null;

  constructor(name: string, sourceId: string, copyData: Buffer) {
    this.name = name;
    this.sourceId = sourceId;
    this.dedupKey = 's:' + sourceId;
    this.copyData = copyData;
  }

  /** vertical_data as JSON text; its values are those the parsed record would hold. */
  get data(): string {
    return (this.#data ??= this.copyData.toString('utf8').replaceAll('\\\\', '\\'));
  }

  /** The record it stands for, as a mapper would have made it. */
  toRecord(): { name: string; source_id: string; vertical_data: Record<string, unknown> } {
    return { name: this.name, source_id: this.sourceId, vertical_data: JSON.parse(this.data) as Record<string, unknown> };
  }
}
