/**
 * The MongoDB and Neo4j ceilings' source side: the collection or label read through the official driver's
 * fastest path with no application logic, written to stdout as `COPY … FROM STDIN` text (the columns named on
 * the command line, in that order), so it pipes into the same psql script as `psql \copy … to stdout` and
 * `mariadb --batch`.
 *
 *   node bench/pull/document-export.ts mongodb <database> <collection> <col,col,…>   (QBENCH_EXPORT_URI)
 *   node bench/pull/document-export.ts neo4j <database> <label> <col,col,…>          (QBENCH_EXPORT_URI, _USER, _PASSWORD)
 *
 * MongoDB: one `find({})` with a projection of the columns (`id` read from `_id`), batch size 10,000, the driver's
 * default BSON decoding (a Long that fits is a number). Neo4j: one auto-commit `MATCH (n:Label) RETURN n.col, …`,
 * 10,000 records per fetch. Values: dates as ISO 8601, nested documents as JSON text, strings escaped for COPY.
 * Run by plain `node` (type stripping): it imports no project file, so nothing but the driver loads.
 */
import { once } from 'node:events';
import { MongoClient, type Document } from 'mongodb';
import neo4j from 'neo4j-driver';

const FETCH = 10_000;
const [kind, database, container, columnList] = process.argv.slice(2);
if ((kind !== 'mongodb' && kind !== 'neo4j') || !database || !container || !columnList || !process.env.QBENCH_EXPORT_URI) {
  console.error('usage: document-export.ts mongodb|neo4j <database> <collection|label> <col,col,…> (QBENCH_EXPORT_URI set)');
  process.exit(2);
}
const columns = columnList.split(',');

/** One value as COPY text: `\N` for null, backslash, tab, newline and carriage return escaped. */
function copyText(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  let s: string;
  if (typeof v === 'string') s = v;
  else if (v instanceof Date) return v.toISOString();
  else if (typeof v === 'object' && !neo4j.isInt(v) && !neo4j.isDateTime(v)) s = JSON.stringify(v);
  else return String(v);
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!) : s;
}

let pending: string[] = [];
async function emit(line: string): Promise<void> {
  pending.push(line);
  if (pending.length < 1000) return;
  const chunk = pending.join('');
  pending = [];
  if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
}

async function exportMongo(): Promise<void> {
  const client = new MongoClient(process.env.QBENCH_EXPORT_URI!);
  try {
    const fields = columns.map((c) => (c === 'id' ? '_id' : c));
    const projection = Object.fromEntries(fields.map((f) => [f, 1]));
    const cursor = client.db(database).collection<Document>(container!).find({}, { projection, batchSize: FETCH });
    for await (const doc of cursor) {
      let line = '';
      for (let i = 0; i < fields.length; i++) line += (i ? '\t' : '') + copyText(doc[fields[i]!]);
      await emit(line + '\n');
    }
  } finally {
    await client.close();
  }
}

async function exportNeo4j(): Promise<void> {
  const auth = neo4j.auth.basic(process.env.QBENCH_EXPORT_USER ?? '', process.env.QBENCH_EXPORT_PASSWORD ?? '');
  const driver = neo4j.driver(process.env.QBENCH_EXPORT_URI!, auth, { fetchSize: FETCH });
  const session = driver.session({ database, defaultAccessMode: neo4j.session.READ });
  try {
    const label = '`' + container!.replaceAll('`', '``') + '`';
    const result = session.run(`MATCH (n:${label}) RETURN ${columns.map((c) => `n.\`${c.replaceAll('`', '``')}\``).join(', ')}`);
    for await (const record of result) {
      let line = '';
      for (let i = 0; i < columns.length; i++) line += (i ? '\t' : '') + copyText(record.get(i));
      await emit(line + '\n');
    }
  } finally {
    await session.close();
    await driver.close();
  }
}

await (kind === 'mongodb' ? exportMongo() : exportNeo4j());
if (pending.length) process.stdout.write(pending.join(''));
