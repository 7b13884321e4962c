/**
 * A page of a PostgreSQL table read as the server's own COPY text (`COPY (SELECT …) TO STDOUT`: one message a row, each
 * field in its type's text form, `\N` for NULL, backslash escapes for control characters) and made into the core's
 * records byte by byte: a field's text goes straight into the record's JSON document, with no string, row object or
 * record made for it on the way, which is most of a pull's cost in the worker (bench/pull/worker-cpu.ts --form copy,ready).
 *
 * Exactly what the driver's row and the mapping would give, or that row: a record is made only where every check the
 * mapping and `normalizeRecord` make is known to pass. A row with anything else (a blank or long name, a NULL or empty
 * key, a jsonb value `splicedJsonb` will not splice) is decoded as the driver would decode it and mapped as ever; so is
 * the last row of a page, whose values give the cursor, and so is every row of a page whose columns the byte-level way
 * cannot write (arrays, json: their values need parsing) or whose mapping it cannot prove (a name or key column that is
 * not text or an integer, a refused or repeated vertical_data key). Text a UTF-8 database holds has no NUL and no
 * unpaired surrogate, the characters the core refuses, so nothing is checked for them here.
 */
import type { Row } from '../contract';
import type { RecordShape } from '../map-record';
import { joinKeyParts } from '../map-record';
import { JSONB_VERSION } from '../../src/core/copy-binary';
import { copyFieldText, isCopyEscape } from '../../src/core/copy-text';
import { MAX_EXACT_DIGITS, MAX_SPLICED_DEPTH } from '../../src/core/json-text';
import { MAX_NAME_LENGTH, MAX_SOURCE_ID_BYTES } from '../../src/core/normalize-record';
import { FORBIDDEN_KEYS } from '../../src/core/record-problems';
import { ReadyRecord } from '../../src/core/ready-record';
import { wireKindOf, type TextParser, type WireKind } from './postgresql-types';

/** A result column as the server describes it. */
export interface CopyField {
  name: string;
  dataTypeID: number;
}

const B = (c: string) => c.charCodeAt(0);
const [TAB, NL, BSL, QUOTE, ZERO] = [B('\t'), B('\n'), B('\\'), B('"'), B('0')];
const HEX = Buffer.from('0123456789abcdef');
/** The size of a buffer records are written into: a few hundred rows each. */
const SLAB_BYTES = 1 << 18;
const REFUSED_KEYS = [...FORBIDDEN_KEYS].map((k) => Buffer.from(k));
const KEY_KINDS = new Set<WireKind>(['string', 'integer', 'int8']);

/** One vertical_data value: the column's place in the row, how its text is written, and `"key":` before it. */
interface Slot {
  index: number;
  kind: WireKind;
  parse: TextParser;
  key: Buffer;
}

/** Makes the rows of one page (see the file's comment): `line` for each row's COPY text in order, then `rows`. */
export class CopyRecords {
  private readonly out: Array<Row | ReadyRecord> = [];
  private readonly ends: Int32Array;
  /** The last row's text, copied (a message's buffer is the socket's, reused): the page's last row is decoded from it. */
  private last = Buffer.allocUnsafe(1024);
  private lastLength = 0;
  /** The page's records' fields (see `ReadyRecord`), the last of them being written from `rowStart`. */
  private buf: Buffer;
  private at = 0;
  private rowStart = 0;
  private readonly emptyRow: Row;

  private constructor(
    private readonly fields: readonly CopyField[],
    private readonly parsers: readonly TextParser[],
    /** Null: every row is decoded. */
    private readonly shape: { name: number; key: number[]; slots: Slot[] } | null,
    private readonly slabBytes: number,
  ) {
    this.buf = Buffer.allocUnsafe(slabBytes);
    this.ends = new Int32Array(fields.length);
    // As the driver makes its rows: a column called __proto__ is an own property.
    const empty = Object.create(null) as Row;
    for (const f of fields) empty[f.name] = null;
    this.emptyRow = empty;
  }

  /** For a page of `fields`, read with `parserOf`'s parsers (the driver's for the read), mapped by `shape`. */
  static forPage(
    fields: readonly CopyField[],
    parserOf: (oid: number) => TextParser,
    shape: RecordShape,
    /** The size of the buffers records are written into (a test's small one moves rows at every offset). */
    slabBytes = SLAB_BYTES,
  ): CopyRecords {
    const parsers = fields.map((f) => parserOf(f.dataTypeID));
    return new CopyRecords(fields, parsers, planShape(fields, parsers, shape), slabBytes);
  }

  /** Takes one row's COPY text (its message, newline included). */
  line(line: Buffer): void {
    this.split(line);
    if (this.last.length < line.length) this.last = Buffer.allocUnsafe(line.length * 2);
    this.lastLength = line.copy(this.last, 0, 0, line.length);
    this.out.push((this.shape && this.record(line)) ?? this.row(line));
  }

  /** The page's rows in order, its last one a row. */
  rows(): Array<Row | ReadyRecord> {
    const n = this.out.length;
    if (n && this.out[n - 1] instanceof ReadyRecord) {
      const line = this.last.subarray(0, this.lastLength);
      this.split(line);
      this.out[n - 1] = this.row(line);
    }
    return this.out;
  }

  /** Finds where the line's fields end (`ends`). */
  private split(line: Buffer): void {
    const length = line.length - 1;
    if (line[length] !== NL) throw new Error('a COPY row that does not end its line');
    const ends = this.ends;
    let f = 0;
    for (let i = 0; i < length; i++) {
      if (line[i] !== TAB) continue;
      if (f === ends.length - 1) throw new Error(`a COPY row of more than ${ends.length} fields`);
      ends[f++] = i;
    }
    if (f !== ends.length - 1) throw new Error(`a COPY row of ${f + 1} fields, ${ends.length} expected`);
    ends[f] = length;
  }

  /** The row as the driver decodes it. */
  private row(line: Buffer): Row {
    const row: Row = { ...this.emptyRow };
    for (let c = 0, from = 0; c < this.fields.length; c++) {
      const text = copyFieldText(line, from, this.ends[c]!);
      row[this.fields[c]!.name] = text === null ? null : this.parsers[c]!(text);
      from = this.ends[c]! + 1;
    }
    return row;
  }

  private start(c: number): number {
    return c === 0 ? 0 : this.ends[c - 1]! + 1;
  }

  /**
   * The row's record, or null when the mapping and the core must see the row itself (see the file's comment). Its fields
   * are written into the page's buffer in COPY's binary format (`ReadyRecord`), the name and the source_id mostly as the
   * bytes the source sent.
   */
  private record(line: Buffer): ReadyRecord | null {
    const shape = this.shape!;
    const nameFrom = this.start(shape.name);
    const nameTo = this.ends[shape.name]!;
    if (!nameFits(line, nameFrom, nameTo)) return null;
    let sourceId: string;
    const single = shape.key.length === 1;
    if (single) {
      const text = copyFieldText(line, this.start(shape.key[0]!), this.ends[shape.key[0]!]!);
      if (!text) return null;
      sourceId = text;
    } else {
      const parts: string[] = [];
      for (const c of shape.key) {
        const text = copyFieldText(line, this.start(c), this.ends[c]!);
        if (!text) return null;
        parts.push(text);
      }
      sourceId = joinKeyParts(parts);
    }
    // At most three UTF-8 bytes a UTF-16 unit: only a long one can be too long.
    if (sourceId.length * 3 > MAX_SOURCE_ID_BYTES && Buffer.byteLength(sourceId) > MAX_SOURCE_ID_BYTES) return null;

    // The fields before the document, in room made for all of them at once (nothing moves the row while they are
    // written): the name, the source_id, the dedup key, each its length and its text (its bytes as they came when they
    // hold no COPY escape, else the text they stand for), then the document's length (set once it is written), its
    // version byte and its brace.
    const nameText = hasEscape(line, nameFrom, nameTo) ? copyFieldText(line, nameFrom, nameTo)! : null;
    const nameBytes = nameText === null ? nameTo - nameFrom : Buffer.byteLength(nameText);
    const keyFrom = single ? this.start(shape.key[0]!) : 0;
    const keyTo = single ? this.ends[shape.key[0]!]! : 0;
    const keyAsIs = single && !hasEscape(line, keyFrom, keyTo);
    const keyBytes = keyAsIs ? keyTo - keyFrom : Buffer.byteLength(sourceId);
    this.rowStart = this.at;
    this.reserve(nameBytes + 2 * keyBytes + 24);
    const buf = this.buf;
    let at = nameText === null ? bytesField(buf, this.at, line, nameFrom, nameTo) : textField(buf, this.at, nameText);
    at = keyAsIs ? bytesField(buf, at, line, keyFrom, keyTo) : textField(buf, at, sourceId);
    at = keyAsIs ? bytesField(buf, at, line, keyFrom, keyTo, 's:') : textField(buf, at, 's:' + sourceId);
    // Offsets from the row's start: `reserve` may move the row to a new buffer.
    const dataLengthOffset = at - this.rowStart;
    buf[at + 4] = JSONB_VERSION;
    buf[at + 5] = B('{');
    this.at = at + 6;
    for (let s = 0; s < shape.slots.length; s++) {
      const slot = shape.slots[s]!;
      // Room for the worst case: the key, then every byte of the field a control character (six bytes as an escape).
      this.reserve(slot.key.length + (this.ends[slot.index]! - this.start(slot.index)) * 6 + 16);
      this.at = copyBytes(slot.key, 0, slot.key.length, this.buf, this.at);
      if (!this.value(line, slot)) {
        this.at = this.rowStart;
        return null;
      }
    }
    this.reserve(1);
    this.buf[this.at++] = B('}');
    const dataLengthAt = this.rowStart + dataLengthOffset;
    this.buf.writeInt32BE(this.at - dataLengthAt - 4, dataLengthAt);
    return new ReadyRecord(sourceId, this.buf, this.rowStart, this.at);
  }

  /** Writes one field's value as JSON; false when the row must be decoded instead. */
  private value(line: Buffer, slot: Slot): boolean {
    const from = this.start(slot.index);
    const to = this.ends[slot.index]!;
    const buf = this.buf;
    if (to - from === 2 && line[from] === BSL && line[from + 1] === B('N')) {
      this.at += buf.write('null', this.at, 'latin1');
      return true;
    }
    switch (slot.kind) {
      case 'integer':
        this.at = copyBytes(line, from, to, buf, this.at);
        return true;
      case 'int8':
        // As `parseInt8`: beyond 2^53 - 1 the exact decimal string.
        if (to - from >= 16 && !Number.isSafeInteger(Number(line.toString('latin1', from, to)))) return this.quoted(line, from, to);
        this.at = copyBytes(line, from, to, buf, this.at);
        return true;
      case 'float': {
        // NaN, Infinity, -Infinity are strings; -0 is 0 (a double's JSON). A text of at most 15 digits is the double's
        // shortest form's value; a longer one (PostgreSQL before 12 writes 17 or 18) is written as the double's JSON.
        const c = line[from] === B('-') ? line[from + 1] : line[from];
        if (c === B('N') || c === B('I')) return this.quoted(line, from, to);
        if (digitsIn(line, from, to) > 15) return this.parsed(line, from, to, slot);
        if (to - from === 2 && line[from] === B('-') && line[from + 1] === ZERO) buf[this.at++] = ZERO;
        else this.at = copyBytes(line, from, to, buf, this.at);
        return true;
      }
      case 'boolean':
        this.at += buf.write(line[from] === B('t') ? 'true' : 'false', this.at, 'latin1');
        return true;
      case 'string':
        return this.quoted(line, from, to);
      case 'timestamptz':
        // `parseTimestamptz`'s usual form: a 4-digit year, UTC's +00.
        if (to - from > 10 && line[from + 10] === 32 && line[to - 3] === B('+') && line[to - 2] === ZERO && line[to - 1] === ZERO) {
          this.isoTime(line, from, to - 3, 'Z');
          return true;
        }
        return this.parsed(line, from, to, slot);
      case 'timestamp':
        if (to - from > 10 && line[from + 10] === 32 && line[to - 1] !== B('C')) {
          this.isoTime(line, from, to, '');
          return true;
        }
        return this.parsed(line, from, to, slot);
      case 'bytea':
        return this.parsed(line, from, to, slot);
      case 'jsonb':
        return this.jsonb(line, from, to);
    }
  }

  /**
   * A jsonb object's COPY text (its JSON with every backslash doubled) written as `splicedJsonb` (json-text.ts) writes its
   * JSON, byte by byte: each number with the trailing zeros of its fraction cut. False where that refuses: anything but
   * an object, a `\u` escape, a string equal to a refused key, nesting over its limit, a number a double would change.
   */
  private jsonb(line: Buffer, from: number, to: number): boolean {
    if (line[from] !== B('{')) return false;
    const buf = this.buf;
    let at = this.at;
    let depth = 0;
    for (let i = from; i < to; i++) {
      const c = line[i]!;
      if (c === QUOTE) {
        const start = at;
        buf[at++] = QUOTE;
        for (i++; ; i++) {
          if (i >= to) return false;
          const b = line[i]!;
          if (b === QUOTE) break;
          if (b === BSL) {
            // A JSON escape: its backslash doubled by COPY, and a backslash escaped doubled again.
            const e = line[i + 2];
            if (line[i + 1] !== BSL || e === undefined || e === B('u') || i + 2 >= to) return false;
            if (e === BSL && line[i + 3] !== BSL) return false;
            buf[at++] = BSL;
            buf[at++] = e;
            i += e === BSL ? 3 : 2;
          } else buf[at++] = b;
        }
        buf[at++] = QUOTE;
        if (refusedKey(buf, start + 1, at - 1)) return false;
      } else if (c === B('{') || c === B('[')) {
        if (++depth > MAX_SPLICED_DEPTH) return false;
        buf[at++] = c;
      } else if (c === B('}') || c === B(']')) {
        depth--;
        buf[at++] = c;
      } else if (c === B('-') || (c >= ZERO && c <= ZERO + 9)) {
        let end = i + 1;
        let digits = c === B('-') ? 0 : 1;
        let point = -1;
        for (; end < to; end++) {
          const d = line[end]!;
          if (d >= ZERO && d <= ZERO + 9) digits++;
          else if (d === B('.') && point < 0) point = end;
          else break;
        }
        const next = line[end];
        if (end < to && (next === B('e') || next === B('E') || next === B('.'))) return false;
        let cut = end;
        if (point >= 0) {
          while (line[cut - 1] === ZERO) cut--;
          digits -= end - cut;
          if (cut - 1 === point) cut--;
        }
        if (digits > MAX_EXACT_DIGITS) return false;
        for (let k = i; k < cut; k++) buf[at++] = line[k]!;
        i = end - 1;
      } else if (c === BSL) {
        return false; // an escape outside a string: not jsonb's output
      } else {
        buf[at++] = c;
      }
    }
    if (depth !== 0) return false;
    this.at = at;
    return true;
  }

  /** `YYYY-MM-DD HH:MM:SS[.f]` (up to `to`) as `"YYYY-MM-DDTHH:MM:SS.ffffff<zone>"`, as `parseTimestamp(tz)` writes it. */
  private isoTime(line: Buffer, from: number, to: number, zone: string): void {
    const buf = this.buf;
    buf[this.at++] = QUOTE;
    this.at = copyBytes(line, from, from + 10, buf, this.at);
    buf[this.at++] = B('T');
    this.at = copyBytes(line, from + 11, to, buf, this.at);
    let time = to - from - 11;
    if (time === 8) {
      buf[this.at++] = B('.');
      time++;
    }
    for (; time < 15; time++) buf[this.at++] = ZERO;
    if (zone) buf[this.at++] = B(zone);
    buf[this.at++] = QUOTE;
  }

  /** A value the type's parser makes a string of (bytea, an unusual timestamp), written as that string. */
  private parsed(line: Buffer, from: number, to: number, slot: Slot): boolean {
    this.write(JSON.stringify(slot.parse(copyFieldText(line, from, to)!)));
    return true;
  }

  /** A field's text as a JSON string: COPY's escapes are JSON's (but `\v`), other control characters `\u00XX`. */
  private quoted(line: Buffer, from: number, to: number): boolean {
    const buf = this.buf;
    let at = this.at;
    buf[at++] = QUOTE;
    for (let i = from; i < to; i++) {
      const b = line[i]!;
      if (b >= 0x20 && b !== QUOTE && b !== BSL) {
        buf[at++] = b;
      } else if (b === QUOTE) {
        buf[at++] = BSL;
        buf[at++] = QUOTE;
      } else if (b === BSL) {
        const e = line[++i];
        if (e === B('v')) at = unicodeEscape(buf, at, 0x0b);
        else if (e !== undefined && isCopyEscape(e)) {
          buf[at++] = BSL;
          buf[at++] = e;
        } else return false; // not an escape COPY writes
      } else {
        at = unicodeEscape(buf, at, b);
      }
    }
    buf[at++] = QUOTE;
    this.at = at;
    return true;
  }

  /** JSON text. */
  private write(json: string): void {
    this.reserve(Buffer.byteLength(json));
    this.at += this.buf.write(json, this.at, 'utf8');
  }

  /**
   * Room for `n` more bytes after the row being written. A full buffer is left to the records made in it, and the row
   * moved to a new one.
   */
  private reserve(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const row = this.at - this.rowStart;
    const next = Buffer.allocUnsafe(Math.max(this.slabBytes, (row + n) * 2));
    this.buf.copy(next, 0, this.rowStart, this.at);
    this.buf = next;
    this.rowStart = 0;
    this.at = row;
  }
}

/** The decimal digits of a number's text before its exponent. */
function digitsIn(line: Buffer, from: number, to: number): number {
  let digits = 0;
  for (let i = from; i < to; i++) {
    const b = line[i]!;
    if (b === B('e') || b === B('E')) break;
    if (b >= ZERO && b <= ZERO + 9) digits++;
  }
  return digits;
}

/** Whether a name field holds a name the mapping and the core take: not NULL, empty, blank or too long. */
function nameFits(line: Buffer, from: number, to: number): boolean {
  const first = line[from];
  if (first === undefined || from === to) return false;
  // Bytes are at least as many as characters: a short name that starts with a visible ASCII character fits.
  if (to - from <= MAX_NAME_LENGTH && first > 32 && first < 128 && first !== BSL) return true;
  const name = copyFieldText(line, from, to);
  if (name === null || name.length > MAX_NAME_LENGTH) return false;
  const c = name.charCodeAt(0);
  return !((c <= 32 || c >= 128) && name.trim() === '');
}

/** Whether `buf[from, to)` is a key `normalizeRecord` refuses. */
function refusedKey(buf: Buffer, from: number, to: number): boolean {
  const length = to - from;
  if (length !== 9 && length !== 11) return false;
  for (const key of REFUSED_KEYS) if (key.length === length && buf.compare(key, 0, length, from, to) === 0) return true;
  return false;
}

/** Whether `line[from, to)` holds a COPY escape. */
function hasEscape(line: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (line[i] === BSL) return true;
  return false;
}

/** A binary COPY field at `at` of `source[from, to)` after `prefix` (ASCII); where it ends. */
function bytesField(target: Buffer, at: number, source: Buffer, from: number, to: number, prefix = ''): number {
  target.writeInt32BE(prefix.length + to - from, at);
  at += 4;
  for (let i = 0; i < prefix.length; i++) target[at++] = prefix.charCodeAt(i);
  return copyBytes(source, from, to, target, at);
}

/** A binary COPY field at `at` of `text`'s UTF-8; where it ends. */
function textField(target: Buffer, at: number, text: string): number {
  const length = target.write(text, at + 4, 'utf8');
  target.writeInt32BE(length, at);
  return at + 4 + length;
}

function copyBytes(source: Buffer, from: number, to: number, target: Buffer, at: number): number {
  if (to - from > 64) return at + source.copy(target, at, from, to);
  for (let i = from; i < to; i++) target[at++] = source[i]!;
  return at;
}

/** `\u00XX` for `code`. */
function unicodeEscape(buf: Buffer, at: number, code: number): number {
  buf[at++] = BSL;
  buf[at++] = B('u');
  buf[at++] = ZERO;
  buf[at++] = ZERO;
  buf[at++] = HEX[code >> 4]!;
  buf[at++] = HEX[code & 15]!;
  return at;
}

/**
 * Where the mapping finds its values in the page's columns, as `compileRecordMapper` would: the name column, the
 * source_id's columns, then every other column (or those `fields.include` names) under its `fields.rename` name. Null
 * when a record cannot be made this way (see the file's comment).
 */
function planShape(fields: readonly CopyField[], parsers: readonly TextParser[], shape: RecordShape) {
  const index = new Map(fields.map((f, i) => [f.name, i]));
  if (index.size !== fields.length) return null;
  const kind = (i: number | undefined) => (i === undefined ? undefined : wireKindOf(parsers[i]!));
  const name = index.get(shape.nameColumn);
  const key = shape.sourceIdColumns.map((c) => index.get(c));
  if (!KEY_KINDS.has(kind(name)!) || key.some((i) => !KEY_KINDS.has(kind(i)!))) return null;
  const { include, exclude, rename } = shape.fields;
  const renames = new Map(Object.entries(rename));
  const sources = include
    ? include.filter((c) => c !== shape.nameColumn && index.has(c))
    : fields.map((f) => f.name).filter((c) => c !== shape.nameColumn && !exclude.includes(c));
  const slots: Slot[] = [];
  const targets = new Set<string>();
  for (const column of sources) {
    const i = index.get(column)!;
    const target = renames.get(column) ?? column;
    const wire = kind(i);
    if (!wire || FORBIDDEN_KEYS.has(target) || targets.has(target)) return null;
    targets.add(target);
    const key = (slots.length ? ',' : '') + JSON.stringify(target) + ':';
    slots.push({ index: i, kind: wire, parse: parsers[i]!, key: Buffer.from(key) });
  }
  return { name: name!, key: key as number[], slots };
}
