import type { ProblemType } from '../problem-types';

/** One problem of a 422 answer: where, what to do, and which rule (see problem-types.ts). */
export interface Problem {
  loc: Array<string | number>;
  msg: string;
  type: ProblemType;
}

/** An error the API answers with its status and `{detail}`; anything else becomes a 500 without details. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly detail: string | Problem[],
    readonly headers: Record<string, string> = {},
    /** Extra fields of the response body next to `detail` (an ingestion id, a running run's id). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(typeof detail === 'string' ? detail : 'validation error');
    this.name = 'HttpError';
  }
}

export const notFound = (what: string) => new HttpError(404, `${what} not found`);
