/**
 * The time rules of a read, decided from a validated definition and the run's plan: the lag window and the
 * instant `:last_pull` stands for. Every source applies them the same way.
 */
import type { ReadPlan } from './contract';
import type { ConnectorDefinition, CursorConfig } from './connector-definition';
import { EPOCH_ISO, isIsoTimestamp, subtractSeconds } from './iso-time';
import type { KeysetSettings } from './keyset-plan';

/** Lag applied to timestamp cursors and to `:last_pull` when `cursor.lag_seconds` is not set. */
export const DEFAULT_LAG_SECONDS = 60;

/** The lag a read applies: the explicit setting, else the default. */
export function effectiveLagSeconds(cursor: CursorConfig | null): number {
  return cursor?.lag_seconds ?? DEFAULT_LAG_SECONDS;
}

/**
 * The instant `:last_pull` stands for: the last successful run's source-clock start minus the lag; before
 * the first run, and in full reads, `cursor.initial_value` when it is a timestamp, else the epoch.
 */
export function lastPullInstant(def: ConnectorDefinition, plan: Pick<ReadPlan, 'mode' | 'lastPull'>): string {
  if (plan.mode === 'incremental' && plan.lastPull !== null) return subtractSeconds(plan.lastPull, effectiveLagSeconds(def.cursor));
  const initial = def.cursor?.initial_value;
  return typeof initial === 'string' && isIsoTimestamp(initial) ? initial : EPOCH_ISO;
}

/** The settings of `def` that shape a keyset read. */
export function keysetSettings(def: ConnectorDefinition): KeysetSettings {
  return {
    lagSeconds: def.cursor?.lag_seconds ?? null,
    defaultLagSeconds: DEFAULT_LAG_SECONDS,
    initialValue: def.cursor?.initial_value ?? null,
  };
}

/** How long a source may take to count the rows the lag window keeps from a read (`heldBack`), where it can bound that. */
export const HELD_BACK_TIMEOUT_MS = 30_000;
