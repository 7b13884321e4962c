import { parseExactJson } from '../core/exact-json';
import { HttpError } from './http-error';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a request body as strict UTF-8 and parses it as JSON. Invalid bytes are refused rather than
 * replaced, so nothing is stored different from what was sent. JSON.parse makes `__proto__` an own
 * property, never a prototype; the core refuses such keys anyway.
 */
function decodeJson(raw: Buffer, parse: (text: string) => unknown): unknown {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new HttpError(400, 'The request body is not valid UTF-8.');
  }
  if (text.trim() === '') throw new HttpError(400, 'The request body is empty; send a JSON object.');
  try {
    return parse(text);
  } catch (err) {
    throw new HttpError(400, `Malformed JSON: ${(err as Error).message}`);
  }
}

export const parseJsonBody = (raw: Buffer): unknown => decodeJson(raw, JSON.parse);

/** A body of records to ingest: every number kept exactly (see core/exact-number.ts). */
export const parseRecordsBody = (raw: Buffer): unknown => decodeJson(raw, parseExactJson);
