import { randomBytes } from 'node:crypto';
import neo4j, { type Driver } from 'neo4j-driver';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { neo4jParts } from '../../helpers/services';
import { serviceUrl } from '../../helpers/service-url';
import { doctor } from './doctor-report';

/** Each doctor check on Neo4j: a label that passes, and for each check a label built to trip it. */

const suffix = randomBytes(4).toString('hex');
const label = (name: string) => `Doc${name}_${suffix}`;
const LABELS = ['Good', 'Bare', 'Bursty', 'Holes', 'Ahead', 'Fresh'].map(label);
let driver: Driver;
let parts: { uri: string; user: string; password: string };
let community = false;

async function write(cypher: string, params: Record<string, unknown> = {}) {
  await driver.executeQuery(cypher, params, { database: 'neo4j' });
}

/** `nodes` nodes {id, name, updated_at} an hour old, one second apart; `indexed`: a range index on updated_at. */
async function nodes(name: string, count: number, indexed = true) {
  const l = label(name);
  await write(
    `UNWIND range(1, $count) AS i CREATE (:${l} {id: i, name: 'n' + i, updated_at: datetime() - duration({hours: 1}) + duration({seconds: i})})`,
    { count: neo4j.int(count) },
  );
  if (indexed) await write(`CREATE RANGE INDEX ${l}_order IF NOT EXISTS FOR (n:${l}) ON (n.updated_at)`);
  await write('CALL db.awaitIndexes(60)');
}

const def = (extra: Record<string, unknown>) => ({
  connector_type: 'neo4j',
  connection_config: { ...parts, database: 'neo4j' },
  cursor: { column: 'updated_at' },
  batch_size: 10,
  ...extra,
});

beforeAll(async () => {
  parts = neo4jParts(serviceUrl('neo4j'));
  driver = neo4j.driver(parts.uri, neo4j.auth.basic(parts.user, parts.password));
  const { records } = await driver.executeQuery("CALL dbms.components() YIELD name, edition WHERE name = 'Neo4j Kernel' RETURN edition");
  community = records[0]?.get('edition') === 'community';
  await nodes('Good', 300);
  await nodes('Bare', 50, false);
  await nodes('Bursty', 40);
  await write(`MATCH (n:${label('Bursty')}) WHERE n.id > 5 SET n.updated_at = datetime() - duration({hours: 2})`);
  await nodes('Holes', 20);
  await write(`MATCH (n:${label('Holes')}) WHERE n.id % 4 = 0 REMOVE n.updated_at`);
  await nodes('Ahead', 20);
  await write(`MATCH (n:${label('Ahead')}) WHERE n.id > 17 SET n.updated_at = datetime() + duration({hours: 2, seconds: n.id})`);
  await nodes('Fresh', 20);
  await write(`MATCH (n:${label('Fresh')}) WHERE n.id > 13 SET n.updated_at = datetime()`);
});
afterAll(async () => {
  for (const l of LABELS) {
    await write(`MATCH (n:${l}) DETACH DELETE n`).catch(() => {});
    await write(`DROP INDEX ${l}_order IF EXISTS`).catch(() => {});
  }
  await driver?.close();
});

describe('the doctor on Neo4j', () => {
  test('an indexed label with settled, distinct, past cursors passes every check; Community Edition cannot keep a user from writing', async () => {
    const d = await doctor(def({ table: label('Good') }));
    for (const name of ['cursor_index', 'equal_cursor_run', 'null_cursors', 'future_cursors', 'held_back', 'resync_estimate'] as const) {
      expect(d.check(name), d.check(name).detail).toMatchObject({ verdict: 'ok', fix: null });
    }
    expect(d.check('cursor_index').detail).toContain(`"${label('Good')}_order"`);
    expect(d.check('resync_estimate').detail).toMatch(/about 300 rows \(the label's count store/);
    const privileges = d.check('privileges');
    if (community) {
      expect(privileges.verdict).toBe('warn');
      expect(privileges.detail).toContain('Community Edition has no roles');
      expect(privileges.fix).toContain('reader role');
    } else {
      expect(['ok', 'warn']).toContain(privileges.verdict);
    }
  });

  test('no range index on the cursor property: warn with the CREATE RANGE INDEX for that label and property', async () => {
    const c = (await doctor(def({ table: label('Bare') }))).check('cursor_index');
    expect(c.verdict).toBe('warn');
    expect(c.fix).toBe(`CREATE RANGE INDEX FOR (n:\`${label('Bare')}\`) ON (n.\`updated_at\`)`);
  });

  test('a run of equal cursor values longer than batch_size: warn naming the property; the where condition scopes the count', async () => {
    const c = (await doctor(def({ table: label('Bursty') }))).check('equal_cursor_run');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/35 rows share "updated_at" = "\d{4}-.*Z" \(batch_size 10\)/);
    expect(c.fix).toContain('(updated_at, element_id)');
    const scoped = (await doctor(def({ table: label('Bursty'), where: 'n.id > 33' }))).check('equal_cursor_run');
    expect(scoped).toMatchObject({ verdict: 'ok', fix: null });
    expect(scoped.detail).toContain('7 rows share');
  });

  test('nodes without the cursor property: warn with their count and the property to fill', async () => {
    const c = (await doctor(def({ table: label('Holes') }))).check('null_cursors');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toContain(`5 rows of label "${label('Holes')}" have a NULL "updated_at"`);
    expect(c.fix).toContain('give "updated_at" a value on every row');
  });

  test("cursor values after the server's clock: warn with the count and how far ahead", async () => {
    const c = (await doctor(def({ table: label('Ahead') }))).check('future_cursors');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/^3 rows have "updated_at" later than the source clock .*, 72\d\d s ahead/);
  });

  test('nodes inside the lag window: warn with their count', async () => {
    const c = (await doctor(def({ table: label('Fresh') }))).check('held_back');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/^7 rows changed within the lag window \(60 s/);
  });

  test('query mode: the counts run over the query', async () => {
    const d = await doctor(
      def({
        query: `MATCH (n:${label('Bursty')}) WHERE n.id > 2 RETURN n.id AS id, n.name AS name, n.updated_at AS updated_at`,
      }),
    );
    expect(d.check('cursor_index').verdict).toBe('skipped');
    expect(d.check('equal_cursor_run').detail).toContain('35 rows share');
  });
});
