import { Long, MongoClient, type Document } from 'mongodb';
import neo4j from 'neo4j-driver';

/**
 * The products of products.ts as MongoDB documents and Neo4j nodes: the same values from the row number
 * alone (`price` and `cost` as doubles, since FerretDB stores no Decimal128; `attributes` a nested document in
 * MongoDB, a JSON string property in Neo4j, which stores no maps), `updated_at` advancing 1 ms every 3 rows.
 */

const BASE_MS = Date.UTC(2025, 0, 1);
const CATEGORIES = ['tools', 'garden', 'kitchen', 'toys', 'office', 'sports', 'audio', 'books'];
const COLORS = ['red', 'green', 'blue', 'black', 'white'];
const SIZES = ['S', 'M', 'L', 'XL'];
const CHUNK = 10_000;

function product(g: number) {
  return {
    sku: 'SKU-' + String(g).padStart(8, '0'),
    name: `Product ${g} ${((g * 2654435761) >>> 0).toString(16).padStart(8, '0')}`,
    category: CATEGORIES[g % 8]!,
    price: Math.round(((g * 7919) % 100000) + 99) / 100,
    cost: ((g * 104729) % 1000000) / 1000,
    stock: (g * 31) % 500,
    weight_kg: ((g * 13) % 10000) / 1000,
    active: g % 10 !== 0,
    attributes: { color: COLORS[g % 5]!, size: SIZES[g % 4]!, tags: [`t${g % 17}`, `t${g % 29}`], rating: ((g * 37) % 50) / 10 },
    description: `Description of product ${g}: ${'x'.repeat(64)}`,
    created_at: new Date(BASE_MS + (g % 86400) * 1000),
    updated_at: new Date(BASE_MS + Math.floor(g / 3)),
  };
}

/** `products` in a MongoDB database: `_id` the row number (a Long), an index on (updated_at, _id) for the keyset. */
export async function createMongoProducts(uri: string, database: string, collection: string, rows: number): Promise<void> {
  const client = new MongoClient(uri);
  try {
    const coll = client.db(database).collection<Document>(collection);
    await coll.drop().catch(() => {});
    for (let start = 1; start <= rows; start += CHUNK) {
      const docs: Document[] = [];
      for (let g = start; g < Math.min(start + CHUNK, rows + 1); g++) docs.push({ _id: Long.fromNumber(g), ...product(g) });
      await coll.insertMany(docs, { ordered: false });
    }
    await coll.createIndex({ updated_at: 1, _id: 1 });
  } finally {
    await client.close();
  }
}

export interface Neo4jParts {
  uri: string;
  user: string;
  password: string;
  database: string;
}

/** `:<label>` nodes with an `id` property (unique constraint) and a range index on `updated_at`, as connectors/README.md advises. */
export async function createNeo4jProducts(parts: Neo4jParts, label: string, rows: number): Promise<void> {
  const driver = neo4j.driver(parts.uri, neo4j.auth.basic(parts.user, parts.password));
  const session = () => driver.session({ database: parts.database });
  try {
    const s = session();
    try {
      // Deleted in transactions of 50,000: one big DETACH DELETE would hold every node in memory.
      await s.run(`MATCH (n:\`${label}\`) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 50000 ROWS`);
      await s.run(`CREATE CONSTRAINT \`${label}_id\` IF NOT EXISTS FOR (n:\`${label}\`) REQUIRE n.id IS UNIQUE`);
      await s.run(`CREATE INDEX \`${label}_cursor\` IF NOT EXISTS FOR (n:\`${label}\`) ON (n.updated_at)`);
    } finally {
      await s.close();
    }
    for (let start = 1; start <= rows; start += CHUNK * 5) {
      const props: Array<Record<string, unknown>> = [];
      for (let g = start; g < Math.min(start + CHUNK * 5, rows + 1); g++) {
        const p = product(g);
        props.push({
          ...p,
          id: neo4j.int(g),
          stock: neo4j.int(p.stock),
          attributes: JSON.stringify(p.attributes),
          created_at: neo4j.types.DateTime.fromStandardDate(p.created_at),
          updated_at: neo4j.types.DateTime.fromStandardDate(p.updated_at),
        });
      }
      const s2 = session();
      try {
        await s2.executeWrite((tx) => tx.run(`UNWIND $props AS p CREATE (n:\`${label}\`) SET n = p`, { props }));
      } finally {
        await s2.close();
      }
    }
    const s3 = session();
    try {
      await s3.run('CALL db.awaitIndexes(300)');
    } finally {
      await s3.close();
    }
  } finally {
    await driver.close();
  }
}

export async function dropMongoDatabase(uri: string, database: string): Promise<void> {
  const client = new MongoClient(uri);
  try {
    await client.db(database).dropDatabase();
  } finally {
    await client.close();
  }
}

export async function dropNeo4jLabel(parts: Neo4jParts, label: string): Promise<void> {
  const driver = neo4j.driver(parts.uri, neo4j.auth.basic(parts.user, parts.password));
  const s = driver.session({ database: parts.database });
  try {
    await s.run(`MATCH (n:\`${label}\`) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 50000 ROWS`);
    await s.run(`DROP CONSTRAINT \`${label}_id\` IF EXISTS`);
    await s.run(`DROP INDEX \`${label}_cursor\` IF EXISTS`);
  } finally {
    await s.close();
    await driver.close();
  }
}
