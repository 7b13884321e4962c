/**
 * bench/pull/copyout-sketch (issue 18): sizes a lever not built. The products rows read as the source's own COPY text
 * (`COPY (SELECT …) TO STDOUT`, one message per row) and transcoded byte by byte into the entities COPY text a first load
 * sends (id, tenant, vertical, type, name, source_id, dedup key, the document, connector), with no JavaScript string per
 * field; against the same rows read through the connector's driver rows. Only the products' column types are handled,
 * and a text field's characters are copied as they come (no check for what `normalizeRecord` refuses): a lower bound of
 * the worker's CPU per row for such a reader, not an implementation of one.
 *
 *   NODE_OPTIONS=--max-semi-space-size=16 npx tsx bench/pull/copyout-sketch.ts --db qbench_wcpu [--rounds 6] [--out FILE]
 *
 * `--db` is a database whose products table worker-cpu.ts made (`--db NAME` there).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { newEntityIds } from '../../src/core/copy-entities';

const { values: opts } = parseArgs({
  options: {
    db: { type: 'string', default: 'qbench_wcpu' },
    rounds: { type: 'string', default: '6' },
    // Writes the COPY text of the last round to this file, to load it into a table of the entities shape and look.
    out: { type: 'string' },
    'pg-url': { type: 'string', default: process.env.QANATIX_BENCH_PG_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres' },
  },
});

type Kind = 'number' | 'text' | 'bool' | 'json' | 'time';
/** The products' columns as the document writes them; `name` becomes the entity's name, `id` its key too. */
const COLUMNS: Array<[string, Kind]> = [
  ['id', 'number'],
  ['sku', 'text'],
  ['name', 'text'],
  ['category', 'text'],
  ['price', 'text'],
  ['cost', 'text'],
  ['stock', 'number'],
  ['weight_kg', 'number'],
  ['active', 'bool'],
  ['attributes', 'json'],
  ['description', 'text'],
  ['created_at', 'time'],
  ['updated_at', 'time'],
];
const KEYS = COLUMNS.map(([name], i) => Buffer.from((i === 0 ? '{' : ',') + JSON.stringify(name) + ':'));
const HEAD = Buffer.from('\t00000000-0000-4000-8000-000000000001\tbench\tproduct\t');
const TAIL = Buffer.from('\t00000000-0000-4000-8000-000000000001\n');
const B = (s: string) => s.charCodeAt(0);
const [TAB, NL, BSL, QUOTE] = [B('\t'), B('\n'), B('\\'), B('"')];

/** Transcodes each row's COPY text into `out`, chunk by chunk; counts rows and bytes. */
class Transcoder {
  out = Buffer.allocUnsafe(1 << 20);
  at = 0;
  rows = 0;
  bytes = 0;
  private ids: string[] = [];
  private starts = new Int32Array(COLUMNS.length + 1);

  row(line: Buffer): void {
    if (this.at > this.out.length - 4 * line.length - 256) this.flush();
    let f = 0;
    this.starts[0] = 0;
    for (let i = 0; i < line.length; i++) if (line[i] === TAB || line[i] === NL) this.starts[++f] = i + 1;
    if (this.ids.length === 0) this.ids = newEntityIds(500);
    const out = this.out;
    let at = this.at;
    at += out.write(this.ids.pop()!, at, 'latin1');
    at += HEAD.copy(out, at);
    at += line.copy(out, at, this.starts[2]!, this.starts[3]! - 1); // name, already COPY text
    out[at++] = TAB;
    at += line.copy(out, at, 0, this.starts[1]! - 1); // source_id
    out[at++] = TAB;
    out[at++] = B('s');
    out[at++] = B(':');
    at += line.copy(out, at, 0, this.starts[1]! - 1);
    out[at++] = TAB;
    for (let c = 0; c < COLUMNS.length; c++) {
      if (c === 2) continue;
      const from = this.starts[c]!;
      const to = this.starts[c + 1]! - 1;
      at += KEYS[c === 0 ? 0 : c]!.copy(out, at);
      if (to - from === 2 && line[from] === BSL && line[from + 1] === B('N')) {
        at += out.write('null', at, 'latin1');
        continue;
      }
      const kind = COLUMNS[c]![1];
      if (kind === 'number' || kind === 'json') at += line.copy(out, at, from, to);
      else if (kind === 'bool') at += out.write(line[from] === B('t') ? 'true' : 'false', at, 'latin1');
      else if (kind === 'time') {
        // 2025-01-01 00:00:00.123+00 → "2025-01-01T00:00:00.123000Z"
        out[at++] = QUOTE;
        const zone = to - 3;
        at += line.copy(out, at, from, zone);
        out[at - (zone - from) + 10] = B('T');
        const dot = line.indexOf(B('.'), from);
        let digits = dot >= 0 && dot < zone ? zone - dot - 1 : -1;
        if (digits < 0) {
          out[at++] = B('.');
          digits = 0;
        }
        for (; digits < 6; digits++) out[at++] = B('0');
        out[at++] = B('Z');
        out[at++] = QUOTE;
      } else at = this.jsonString(line, from, to, at);
    }
    out[at++] = B('}');
    at += TAIL.copy(out, at);
    this.at = at;
    this.rows++;
  }

  /** A COPY text field as a JSON string in COPY text: a backslash doubled (COPY's escapes \t, \n, \r and \\ are JSON's too), a quote escaped. */
  private jsonString(line: Buffer, from: number, to: number, at: number): number {
    const out = this.out;
    out[at++] = QUOTE;
    for (let i = from; i < to; i++) {
      const b = line[i]!;
      if (b === BSL || b === QUOTE) {
        out[at++] = BSL;
        out[at++] = BSL;
      }
      if (b !== BSL) out[at++] = b;
    }
    out[at++] = QUOTE;
    return at;
  }

  /** Every chunk's text, kept only with `--out`. */
  kept: Buffer[] | null = null;

  flush(): void {
    this.kept?.push(this.out.subarray(0, this.at));
    this.bytes += this.at;
    this.out = Buffer.allocUnsafe(1 << 20); // a COPY would send the full one
    this.at = 0;
  }
}

/** `COPY … TO STDOUT` through the driver: each CopyData message (one row) handed to `row`. */
class CopyOut extends pg.Query {
  constructor(
    sql: string,
    private readonly onRow: (line: Buffer) => void,
  ) {
    super(sql);
  }
  handleCopyData(msg: { chunk: Buffer }): void {
    this.onRow(msg.chunk);
  }
}

async function main(): Promise<void> {
  const url = new URL(opts['pg-url']);
  url.pathname = `/${opts.db}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  await client.query("set timezone = 'UTC'");
  const columns = COLUMNS.map(([c]) => c).join(', ');
  for (let round = 1; round <= Number(opts.rounds); round++) {
    const t = new Transcoder();
    if (opts.out && round === Number(opts.rounds)) t.kept = [];
    const cpu0 = process.cpuUsage();
    await new Promise<void>((resolve, reject) =>
      (client.query as (q: pg.Submittable, cb: (e: Error | null) => void) => void)(
        new CopyOut(`copy (select ${columns} from products order by updated_at, id) to stdout`, (line) => t.row(line)),
        (e) => (e ? reject(e) : resolve()),
      ),
    );
    t.flush();
    const cpu = process.cpuUsage(cpu0);
    if (t.kept) writeFileSync(opts.out!, Buffer.concat(t.kept));
    const us = (cpu.user + cpu.system) / t.rows;
    console.log(
      `round ${round}: ${t.rows.toLocaleString('en')} rows, ${us.toFixed(2)} µs of CPU a row, ${(t.bytes / 1e6).toFixed(0)} MB of COPY text`,
    );
  }
  await client.end();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
