/**
 * A connector body as clients send it, in the platform's own names. QANATIX's SDK writes a connector the way its
 * Gen B documentation does: `collection` and `record_type` for the vertical and entity type, and
 * `status: "active" | "paused"` for whether the schedule fires. Those names are mapped here, once, for create and
 * update alike; everything after this sees `vertical`, `entity_type` and `enabled` only.
 *
 * A body names QANATIX's Gen B target when it has `record_type`: its `collection` is then the vertical. Without
 * `record_type`, `collection` keeps its meaning as a MongoDB connector's table-mode collection.
 */
import { ProblemType } from '../problem-types';
import { HttpError, type Problem } from './http-error';

const STATUS_ENABLED: Readonly<Record<string, boolean>> = { active: true, paused: false };

export function connectorBodyOf(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(422, [{ loc: ['body'], msg: 'the body must be a JSON object', type: ProblemType.object }]);
  }
  const { record_type, status, ...rest } = body as Record<string, unknown>;
  const out: Record<string, unknown> = rest;
  const problems: Problem[] = [];
  const rename = (from: string, value: unknown, to: string) => {
    if (out[to] !== undefined) {
      problems.push({ loc: ['body', from], msg: `cannot specify both ${to} and ${from} - choose one`, type: ProblemType.settingConflict });
    } else out[to] = value;
  };

  if (record_type !== undefined) {
    rename('record_type', record_type, 'entity_type');
    if (out.collection !== undefined) {
      const collection = out.collection;
      delete out.collection;
      rename('collection', collection, 'vertical');
    }
  }
  if (status !== undefined) {
    const enabled = typeof status === 'string' && Object.hasOwn(STATUS_ENABLED, status) ? STATUS_ENABLED[status] : undefined;
    if (enabled === undefined)
      problems.push({ loc: ['body', 'status'], msg: 'status must be "active" or "paused"', type: ProblemType.valueError });
    else if (out.enabled !== undefined && out.enabled !== enabled)
      problems.push({
        loc: ['body', 'status'],
        msg: `status "${status as string}" contradicts enabled ${JSON.stringify(out.enabled)} - give one of them`,
        type: ProblemType.settingConflict,
      });
    else out.enabled = enabled;
  }
  if (problems.length) throw new HttpError(422, problems);
  return out;
}
