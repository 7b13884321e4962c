import { Agent, request } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { ndjsonStream } from './products';

/** What the server said it did, summed over the requests of one scenario. */
export type Counts = {
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: number;
};

export interface LoadResult {
  wallMs: number;
  bytesSent: number;
  counts: Counts;
}

export interface Endpoint {
  baseUrl: string;
  apiKey: string;
  vertical: string;
  entityType: string;
}

/** One POST; resolves with the parsed JSON answer, rejects on anything but 200. */
async function post(
  url: string,
  apiKey: string,
  agent: Agent,
  contentType: string,
  body: Buffer | Readable,
): Promise<Record<string, number>> {
  const req = request(url, {
    method: 'POST',
    agent,
    headers: {
      authorization: `Bearer ${apiKey}`,
      'content-type': contentType,
      ...(Buffer.isBuffer(body) ? { 'content-length': body.length } : {}),
    },
  });
  const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  // A server that answers early (an error mid-stream) breaks the upload: its answer says why.
  const sent = Buffer.isBuffer(body) ? (req.end(body), Promise.resolve()) : pipeline(body, req);
  const [upload, answer] = await Promise.allSettled([sent, response]);
  if (answer.status === 'rejected') throw upload.status === 'rejected' ? upload.reason : answer.reason;
  if (answer.value.status !== 200) throw new Error(`POST ${url} → ${answer.value.status}: ${answer.value.text.slice(0, 500)}`);
  if (upload.status === 'rejected') throw upload.reason;
  return JSON.parse(answer.value.text) as Record<string, number>;
}

function addCounts(totals: Counts, r: Record<string, number>): void {
  totals.inserted += r.inserted ?? 0;
  totals.updated += r.updated ?? 0;
  totals.unchanged += r.unchanged ?? 0;
  totals.rejected += (r.rejected ?? 0) + (r.parse_errors ?? 0);
}

const zero = (): Counts => ({ inserted: 0, updated: 0, unchanged: 0, rejected: 0 });

/** Sends prepared batch bodies with at most `concurrency` requests in flight, over kept-alive sockets. */
export async function postBatches(target: Endpoint, bodies: Buffer[], concurrency: number): Promise<LoadResult> {
  const url = `${target.baseUrl}/api/v1/ingest/${target.vertical}/${target.entityType}/batch`;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const counts = zero();
  let next = 0;
  let bytesSent = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      bytesSent += body.length;
      addCounts(counts, await post(url, target.apiKey, agent, 'application/json', body));
    }
  };
  const t0 = performance.now();
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return { wallMs: performance.now() - t0, bytesSent, counts };
}

/** Sends records 0 … count-1 as one NDJSON request, generated while it is sent. */
export async function postStream(target: Endpoint, count: number): Promise<LoadResult> {
  const url = `${target.baseUrl}/api/v1/ingest/${target.vertical}/${target.entityType}/stream`;
  const agent = new Agent({ keepAlive: false });
  let bytesSent = 0;
  const t0 = performance.now();
  const r = await post(
    url,
    target.apiKey,
    agent,
    'application/x-ndjson',
    ndjsonStream(count, (n) => (bytesSent += n)),
  );
  const wallMs = performance.now() - t0;
  const counts = zero();
  addCounts(counts, r);
  return { wallMs, bytesSent, counts };
}
