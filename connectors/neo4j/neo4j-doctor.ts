/**
 * The doctor's Neo4j measurements: the range index on the cursor property that pages are hinted with (SHOW RANGE
 * INDEXES), counts that stop at a LIMIT, the largest run of equal cursor values (one aggregation, sorted by its
 * count), the user's roles (dbms.showCurrentUser; Community Edition has none), and the label's size from the count
 * store. Every statement runs in a READ transaction that the server ends after the budget, scoped by the
 * connector's `where` (label mode) or wrapped around its query (query mode).
 */
import neo4j from 'neo4j-driver';
import type { CursorScalar, ReadPlan } from '../contract';
import type { ConnectorDefinition } from '../connector-definition';
import type { DoctorProbes, PrivilegeFact } from '../contract';
import { keysetOrder, lagBound } from '../keyset-plan';
import { keysetSettings, lastPullInstant } from '../read-window';
import { keysetField, Params } from './neo4j-cypher';
import { bareQuery, quoteName, userCondition, type Neo4jSource } from './neo4j-source';
import { fromNeo4j, isoToDateTime } from './neo4j-types';

type Read = (cypher: string, params?: Record<string, unknown>) => Promise<{ rows: Array<Record<string, unknown>> }>;

/** Built-in roles that may write (https://neo4j.com/docs/operations-manual/current/authentication-authorization/built-in-roles/). */
const WRITING_ROLES = new Set(['admin', 'architect', 'publisher', 'editor']);

export function neo4jDoctor(read: Read, source: Neo4jSource, def: ConnectorDefinition, plan: ReadPlan): DoctorProbes {
  const cursor = source.cursor && keysetField(source.cursor);
  const order = keysetOrder({ cursor: source.cursor, key: source.key })?.map((f) => f.name) ?? null;
  const expr = cursor?.expr ?? '';
  const shared = { last_pull: isoToDateTime(lastPullInstant(def, plan)), cursor: null, cursor_key: null, limit: neo4j.int(1) };

  /** The connector's rows matching `conditions`: the label's nodes (and its `where`), or the query's rows. */
  const rowsWhere = (conditions: string[]) => {
    if (source.label !== null) {
      const all = source.where ? [userCondition(source.where), ...conditions] : conditions;
      return `MATCH (n:${quoteName(source.label)})${all.length ? `\nWHERE ${all.join('\n  AND ')}` : ''}`;
    }
    return `CALL () {\n${bareQuery(source.query as string)}\n}\nWITH *${conditions.length ? ` WHERE ${conditions.join('\n  AND ')}` : ''}`;
  };
  /** Rows after `iso` (a cursor value compared as the property's kind), counted up to `cap`, and the first or last of them. */
  const after = async (iso: string, cap: number, direction: 'ASC' | 'DESC') => {
    const params = new Params();
    const match = rowsWhere([`${expr} > ${params.bind(iso, cursor!, 'the source clock')}`]);
    const values = { ...shared, ...params.values, cap: neo4j.int(cap) };
    const counted = await read(`${match}\nWITH 1 AS one LIMIT $cap\nRETURN count(*) AS rows`, values);
    const rows = Number(fromNeo4j(counted.rows[0]?.rows) ?? 0);
    if (rows === 0) return { rows, edge: null };
    const edge = await read(`${match}\nRETURN ${expr} AS v ORDER BY v ${direction} LIMIT 1`, values);
    return { rows, edge: (fromNeo4j(edge.rows[0]?.v) ?? null) as CursorScalar };
  };

  return {
    shape: { cursor, order, table: def.table, label: source.description },
    async orderIndex() {
      if (source.label === null || !cursor) return null;
      const label = quoteName(source.label);
      const create = `CREATE RANGE INDEX FOR (n:${label}) ON (n.${quoteName(cursor.name)})`;
      const { rows } = await read(
        "SHOW RANGE INDEXES YIELD name, labelsOrTypes, properties, entityType, state WHERE entityType = 'NODE' AND labelsOrTypes = [$label] " +
          "AND properties = [$cursor] AND state = 'ONLINE' RETURN name",
        { label: source.label, cursor: cursor.name },
      );
      return { index: (rows[0]?.name as string | undefined) ?? null, create };
    },
    async largestRun() {
      const { rows } = await read(
        `${rowsWhere([`${expr} IS NOT NULL`])}\nWITH ${expr} AS v, count(*) AS rows\nRETURN v, rows ORDER BY rows DESC LIMIT 1`,
        shared,
      );
      const top = rows[0];
      return top ? { value: fromNeo4j(top.v) as CursorScalar, rows: Number(fromNeo4j(top.rows)) } : null;
    },
    async nullCursors(cap) {
      const { rows } = await read(`${rowsWhere([`${expr} IS NULL`])}\nWITH 1 AS one LIMIT $cap\nRETURN count(*) AS rows`, {
        ...shared,
        cap: neo4j.int(cap),
      });
      return Number(fromNeo4j(rows[0]?.rows) ?? 0);
    },
    async futureCursors(now, cap) {
      const found = await after(now, cap, 'DESC');
      return { rows: found.rows, latest: found.edge };
    },
    async heldBack(cap) {
      const bound = cursor && lagBound(cursor, keysetSettings(def), plan.now);
      if (typeof bound !== 'string') return null;
      const found = await after(bound, cap, 'ASC');
      return { rows: found.rows, first: found.edge };
    },
    async privileges(): Promise<PrivilegeFact> {
      const { rows: components } = await read("CALL dbms.components() YIELD name, edition WHERE name = 'Neo4j Kernel' RETURN edition");
      if (components[0]?.edition === 'community') {
        return {
          known: false,
          reason: 'Neo4j Community Edition has no roles: every user it admits can write (reads already run in READ access mode)',
          writes: ['every write'],
          fix: 'where least privilege matters, use Enterprise Edition and give the connector a user with only the reader role',
        };
      }
      const { rows } = await read('CALL dbms.showCurrentUser() YIELD username, roles RETURN username, roles');
      const user = String(rows[0]?.username ?? 'the user');
      const roles = ((rows[0]?.roles as string[] | null) ?? []).map(String);
      const custom = roles.filter((r) => !WRITING_ROLES.has(r) && r !== 'reader' && r !== 'PUBLIC');
      const writes = roles.filter((r) => WRITING_ROLES.has(r));
      if (writes.length === 0 && custom.length) {
        return { known: false, reason: `"${user}" has roles whose privileges the doctor does not read (${custom.join(', ')})` };
      }
      return {
        known: true,
        role: `user "${user}"`,
        writes: writes.map((r) => `role ${r}`),
        fix: `REVOKE ROLE ${writes.map(quoteName).join(', ')} FROM ${quoteName(user)}; GRANT ROLE reader TO ${quoteName(user)} (on the system database)`,
      };
    },
    async estimate() {
      if (source.label === null)
        return { rows: null, basis: 'a query has no row estimate of its own; a full resync reads what it returns' };
      const { rows } = await read(`MATCH (n:${quoteName(source.label)}) RETURN count(n) AS rows`);
      const filtered = source.where ? '; the where condition reads fewer' : '';
      return { rows: Number(fromNeo4j(rows[0]?.rows) ?? 0), basis: `the label's count store${filtered}` };
    },
  };
}
