/**
 * The doctor's MongoDB measurements: indexes from listIndexes, counts with `countDocuments(…, {limit})`, the largest
 * run of equal cursor values with one `$group` stage sorted by its count, the user's privileges from
 * connectionStatus, and the collection's size from estimatedDocumentCount. Each operation carries `maxTimeMS`, and
 * each is scoped by the connector's filter (`where`, or the query document).
 */
import type { Collection, Document } from 'mongodb';
import type { CursorScalar, ReadPlan } from '../contract';
import type { ConnectorDefinition } from '../connector-definition';
import type { DoctorProbes, PrivilegeFact } from '../contract';
import { keysetOrder, lagBound } from '../keyset-plan';
import { keysetSettings, lastPullInstant } from '../read-window';
import { keysetField } from './mongodb-filters';
import { bindLastPull, valueAt, type MongodbSource } from './mongodb-source';
import { fromBson, isoToDate } from './mongodb-types';

/** Actions that change documents, indexes or collections. */
const WRITES = new Set([
  'insert',
  'update',
  'remove',
  'createIndex',
  'dropIndex',
  'createCollection',
  'dropCollection',
  'renameCollectionSameDB',
]);

export function mongodbDoctor(
  collection: Collection,
  source: MongodbSource,
  def: ConnectorDefinition,
  plan: ReadPlan,
  timeoutMs: number,
): DoctorProbes {
  const maxTimeMS = Math.max(1, Math.ceil(timeoutMs));
  const userFilter = bindLastPull(source.filter, isoToDate(lastPullInstant(def, plan))) as Document;
  const where = (extra: Document): Document => (Object.keys(userFilter).length ? { $and: [userFilter, extra] } : extra);
  const cursor = source.cursor && keysetField(source.cursor);
  const order = keysetOrder({ cursor: source.cursor, key: source.key })?.map((f) => f.name) ?? null;
  const name = cursor?.name ?? '';
  const count = (filter: Document, cap: number) => collection.countDocuments(where(filter), { limit: cap, maxTimeMS });
  const edge = async (filter: Document, direction: 1 | -1): Promise<CursorScalar> => {
    const [doc] = await collection
      .find(where(filter), { projection: { [name]: 1, _id: 0 }, sort: { [name]: direction }, limit: 1, maxTimeMS })
      .toArray();
    return doc ? (fromBson(valueAt(doc, name)) as CursorScalar) : null;
  };
  const database = collection.dbName;

  return {
    shape: { cursor, order, table: def.table, label: source.label },
    async orderIndex() {
      if (!order) return null;
      const create = `db.getCollection(${JSON.stringify(source.collection)}).createIndex({ ${order.map((f) => `${JSON.stringify(f)}: 1`).join(', ')} })`;
      const indexes = await collection.listIndexes({ maxTimeMS }).toArray();
      const found = indexes.find((ix) => {
        const fields = Object.entries(ix.key as Document);
        if (ix.partialFilterExpression || ix.sparse || fields.length < order.length) return false;
        const directions = new Set(fields.slice(0, order.length).map(([, d]) => d));
        return order.every((f, i) => fields[i]?.[0] === f) && directions.size === 1 && (directions.has(1) || directions.has(-1));
      });
      return { index: (found?.name as string | undefined) ?? null, create };
    },
    async largestRun() {
      const [group] = await collection
        .aggregate(
          [
            { $match: where({ [name]: { $ne: null } }) },
            { $group: { _id: `$${name}`, n: { $sum: 1 } } },
            { $sort: { n: -1 } },
            { $limit: 1 },
          ],
          { maxTimeMS },
        )
        .toArray();
      return group ? { value: fromBson(group._id) as CursorScalar, rows: Number(group.n) } : null;
    },
    nullCursors: (cap) => count({ [name]: null }, cap),
    async futureCursors(now, cap) {
      const later = { [name]: { $gt: isoToDate(now) } };
      const rows = await count(later, cap);
      return { rows, latest: rows ? await edge(later, -1) : null };
    },
    async heldBack(cap) {
      const bound = cursor && lagBound(cursor, keysetSettings(def), plan.now);
      if (typeof bound !== 'string') return null;
      const newer = { [name]: { $gt: isoToDate(bound) } };
      const rows = await count(newer, cap);
      return { rows, first: rows ? await edge(newer, 1) : null };
    },
    async privileges(): Promise<PrivilegeFact> {
      const status = await collection.db.command({ connectionStatus: 1, showPrivileges: true }, { maxTimeMS } as Document);
      const info = (status.authInfo ?? {}) as {
        authenticatedUsers?: Array<{ user: string; db: string }>;
        authenticatedUserPrivileges?: Array<{ resource?: { db?: string; collection?: string }; actions?: string[] }>;
      };
      const user = info.authenticatedUsers?.[0];
      if (!user) {
        return {
          known: false,
          reason:
            'the server names no authenticated user (authentication is off, or the server does not report it), so it cannot say what ' +
            'the connector may write; reads already run as finds only',
        };
      }
      if (!info.authenticatedUserPrivileges) return { known: false, reason: `the server does not list the privileges of "${user.user}"` };
      const writes = new Set<string>();
      for (const p of info.authenticatedUserPrivileges) {
        const r = p.resource ?? {};
        const applies = (r.db === '' || r.db === database) && (r.collection === '' || r.collection === source.collection);
        if (applies) for (const action of p.actions ?? []) if (WRITES.has(action)) writes.add(action);
      }
      return {
        known: true,
        role: `user "${user.user}"`,
        writes: [...writes],
        fix: `give "${user.user}" only the read role: db.getSiblingDB(${JSON.stringify(user.db)}).updateUser(${JSON.stringify(user.user)}, { roles: [{ role: "read", db: ${JSON.stringify(database)} }] })`,
      };
    },
    async estimate() {
      const rows = await collection.estimatedDocumentCount({ maxTimeMS });
      const filtered = Object.keys(userFilter).length ? '; the filter reads fewer' : '';
      return { rows, basis: `estimatedDocumentCount, the collection's metadata${filtered}` };
    },
  };
}
