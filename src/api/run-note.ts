import { describeSchemaChanges } from '../../connectors/schema-drift';
import type { ConnectorRun } from '../store/connector-runs';
import { HELD_BACK_CAP } from '../store/pull-progress';

/**
 * What a finished run read, in words, when its counts alone would puzzle: a run that read nothing (or little) because
 * the lag window held rows back, or because nothing changed. Null when the counts say it all.
 */
function runNote(
  run: Pick<ConnectorRun, 'status' | 'mode' | 'rows_read' | 'rows_held_back' | 'held_back_until' | 'schema_changes'>,
): string | null {
  if (run.mode === 'set_state') return null; // an operator's change of the position reads nothing
  const drift = run.schema_changes?.length
    ? `the source's columns changed since the last successful run: ${describeSchemaChanges(run.schema_changes)}`
    : null;
  if (run.status !== 'succeeded') return drift;
  const read = readNote(run);
  return read && drift ? `${drift}; ${read}` : (read ?? drift);
}

function readNote(run: Pick<ConnectorRun, 'rows_read' | 'rows_held_back' | 'held_back_until'>): string | null {
  const held = run.rows_held_back ?? 0;
  if (held > 0) {
    const count = `${held.toLocaleString('en')}${held >= HELD_BACK_CAP ? ' or more' : ''} row${held === 1 ? '' : 's'}`;
    const when = run.held_back_until
      ? `the first run starting after ${run.held_back_until} (source clock) reads them`
      : 'a later run reads them';
    const read = run.rows_read === 0 ? 'nothing was read: ' : '';
    return (
      `${read}${count} changed within the lag window (newer than the source clock minus cursor.lag_seconds) and were held back, ` +
      `so rows committed late by a long transaction are not skipped; ${when}`
    );
  }
  return run.rows_read === 0 ? 'nothing was read: no row changed after the committed cursor' : null;
}

/** A run as the API shows it: with its note. */
export const runWithNote = <R extends Parameters<typeof runNote>[0]>(run: R): R & { note: string | null } => ({
  ...run,
  note: runNote(run),
});
