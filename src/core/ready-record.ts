/**
 * A record a source made from its own wire text, already as the core would store it: the name, the source_id and the
 * vertical_data document as JSON text, each having passed every check `normalizeRecord` makes, so preparing it is
 * only its dedup key. A source makes one only when it can prove the checks (see postgresql-copy-records.ts); any row it
 * cannot, it hands over as an ordinary row. Given a schema to validate against, the core takes it as the record it
 * stands for (`toRecord`).
 */
export class ReadyRecord {
  readonly name: string;
  readonly sourceId: string;
  /** vertical_data as JSON text; its values are those the parsed record would hold. */
  readonly data: string;

  constructor(name: string, sourceId: string, data: string) {
    this.name = name;
    this.sourceId = sourceId;
    this.data = data;
  }

  /** The record it stands for, as a mapper would have made it. */
  toRecord(): { name: string; source_id: string; vertical_data: Record<string, unknown> } {
    return { name: this.name, source_id: this.sourceId, vertical_data: JSON.parse(this.data) as Record<string, unknown> };
  }
}
