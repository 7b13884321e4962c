import type { StoredDefinition } from '../../connectors/connector-definition';
import { redactUrl, type NotifyConfig } from '../../connectors/notify-config';
import type { Queryable } from '../db/pool';
import { MissingKeyError } from '../crypto/missing-key-error';
import type { SecretBox } from '../crypto/secret-box';
import { createConnectorState } from './connector-state';
import { isUuid } from './uuid';

/** A saved connector as the API shows it: `connection_config` is always redacted. */
export interface ConnectorView {
  id: string;
  name: string;
  connector_type: string;
  vertical: string;
  entity_type: string;
  connection_config: '***REDACTED***';
  schedule: string | null;
  timezone: string;
  enabled: boolean;
  /** QANATIX's SDK name for `enabled`. */
  status: 'active' | 'paused';
  /** The same switch as `enabled`, with since when and why. */
  paused: boolean;
  paused_at: string | null;
  pause_reason: string | null;
  created_at: string;
  updated_at: string;
  [setting: string]: unknown;
}

/** What a run needs: the definition as stored, credentials opened. Never serialized anywhere. */
export interface ConnectorForRun extends StoredDefinition {
  id: string;
  tenantId: string;
  name: string;
  vertical: string;
  entityType: string;
  /** False while the connector is paused. */
  enabled: boolean;
  /** Whether the connector has a notify URL: a run of one without it has no notification to record when it ends. */
  notifies: boolean;
}

export interface ConnectorInput extends StoredDefinition {
  /** Kept apart from `settings`: its URL is sealed, and `settings.notify` shows it redacted. */
  notify?: NotifyConfig | null;
  name: string;
  vertical: string;
  entity_type: string;
  schedule: string | null;
  timezone: string;
  enabled: boolean;
}

interface Row {
  id: string;
  tenant_id: string;
  name: string;
  connector_type: string;
  vertical: string;
  entity_type: string;
  connection_config_sealed: string;
  settings: Record<string, unknown>;
  notify_url_sealed: string | null;
  notify_secret_sealed: string | null;
  schedule: string | null;
  timezone: string;
  enabled: boolean;
  paused_at: string | null;
  pause_reason: string | null;
  created_at: string;
  updated_at: string;
}

export type { Row as ConnectorRow };

const owner = (id: string) => `connector:${id}`;
const notifyUrlOwner = (id: string) => `connector:${id}:notify_url`;
const notifySecretOwner = (id: string) => `connector:${id}:notify_secret`;

/** The settings as stored and shown: `notify` with its URL redacted (the URL itself is sealed in its own column). */
function storedSettings(c: ConnectorInput): Record<string, unknown> {
  const { notify: _given, ...settings } = c.settings;
  return c.notify ? { ...settings, notify: { url: redactUrl(c.notify.url), on: c.notify.on } } : settings;
}

const sealedNotifyUrl = (box: SecretBox, id: string, c: ConnectorInput) => (c.notify ? box.seal(c.notify.url, notifyUrlOwner(id)) : null);

/** The notify setting with its URL opened; null when the connector has none. */
function openNotify(box: SecretBox, r: Row): NotifyConfig | null {
  const shown = r.settings.notify as { on?: NotifyConfig['on'] } | undefined;
  if (!r.notify_url_sealed || !shown?.on) return null;
  return { url: box.open(r.notify_url_sealed, notifyUrlOwner(r.id)), on: shown.on };
}

/** `settings` without `notify`, which a `ConnectorInput` carries apart. */
function inputSettings(r: Row): Record<string, unknown> {
  const { notify: _shown, ...settings } = r.settings;
  return settings;
}

function toView(r: Row): ConnectorView {
  return {
    id: r.id,
    name: r.name,
    connector_type: r.connector_type,
    vertical: r.vertical,
    entity_type: r.entity_type,
    connection_config: '***REDACTED***',
    ...r.settings,
    schedule: r.schedule,
    timezone: r.timezone,
    enabled: r.enabled,
    status: r.enabled ? 'active' : 'paused',
    paused: !r.enabled,
    paused_at: r.paused_at,
    pause_reason: r.pause_reason,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

/** Creates a connector; `notifySecret` signs its notifications (sealed here; the caller shows it once). */
export async function insertConnector(
  db: Queryable,
  box: SecretBox,
  tenantId: string,
  id: string,
  c: ConnectorInput,
  notifySecret?: string,
): Promise<ConnectorView> {
  const { rows } = await db.query<Row>(
    `insert into connectors (id, tenant_id, name, connector_type, vertical, entity_type, connection_config_sealed, settings, schedule, timezone, enabled,
       paused_at, notify_url_sealed, notify_secret_sealed)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, case when $11 then null else now() end, $12, $13) returning *`,
    [
      id,
      tenantId,
      c.name,
      c.connector_type,
      c.vertical,
      c.entity_type,
      box.seal(JSON.stringify(c.connection_config), owner(id)),
      storedSettings(c),
      c.schedule,
      c.timezone,
      c.enabled,
      sealedNotifyUrl(box, id, c),
      notifySecret === undefined ? null : box.seal(notifySecret, notifySecretOwner(id)),
    ],
  );
  await createConnectorState(db, id);
  return toView(rows[0]!);
}

export async function replaceConnector(
  db: Queryable,
  box: SecretBox,
  tenantId: string,
  id: string,
  c: ConnectorInput,
): Promise<ConnectorView | null> {
  const { rows } = await db.query<Row>(
    `update connectors set name = $3, connector_type = $4, vertical = $5, entity_type = $6, connection_config_sealed = $7,
       settings = $8, schedule = $9, timezone = $10, enabled = $11, updated_at = now(), notify_url_sealed = $12,
       paused_at = case when $11 then null else coalesce(paused_at, now()) end, pause_reason = case when $11 then null else pause_reason end
     where tenant_id = $1 and id = $2 returning *`,
    [
      tenantId,
      id,
      c.name,
      c.connector_type,
      c.vertical,
      c.entity_type,
      box.seal(JSON.stringify(c.connection_config), owner(id)),
      storedSettings(c),
      c.schedule,
      c.timezone,
      c.enabled,
      sealedNotifyUrl(box, id, c),
    ],
  );
  return rows[0] ? toView(rows[0]) : null;
}

async function getRow(db: Queryable, tenantId: string, id: string): Promise<Row | null> {
  const { rows } = await db.query<Row>('select * from connectors where tenant_id = $1 and id = $2', [tenantId, id]);
  return rows[0] ?? null;
}

export async function getConnector(db: Queryable, tenantId: string, id: string): Promise<ConnectorView | null> {
  const row = await getRow(db, tenantId, id);
  return row ? toView(row) : null;
}

/** The stored definition with credentials opened, for an update that keeps them or for a run. */
export async function getConnectorInput(db: Queryable, box: SecretBox, tenantId: string, id: string): Promise<ConnectorInput | null> {
  const r = await getRow(db, tenantId, id);
  if (!r) return null;
  return {
    name: r.name,
    connector_type: r.connector_type,
    vertical: r.vertical,
    entity_type: r.entity_type,
    connection_config: JSON.parse(box.open(r.connection_config_sealed, owner(r.id))),
    schedule: r.schedule,
    timezone: r.timezone,
    enabled: r.enabled,
    settings: inputSettings(r),
    notify: openNotify(box, r),
  };
}

export async function listConnectors(db: Queryable, tenantId: string): Promise<ConnectorView[]> {
  const { rows } = await db.query<Row>('select * from connectors where tenant_id = $1 order by name', [tenantId]);
  return rows.map(toView);
}

/**
 * Pauses (no scheduled runs, manual pulls refused, the position kept) or resumes a connector; the same switch as
 * `enabled`. Resolves to the connector, or null when the tenant has none with this id.
 */
export async function setPaused(
  db: Queryable,
  tenantId: string,
  id: string,
  paused: boolean,
  reason: string | null,
): Promise<ConnectorView | null> {
  const { rows } = await db.query<Row>(
    `update connectors set enabled = not $3, paused_at = case when $3 then coalesce(paused_at, now()) end,
       pause_reason = case when $3 then $4 end, updated_at = now()
     where tenant_id = $1 and id = $2 returning *`,
    [tenantId, id, paused, reason],
  );
  return rows[0] ? toView(rows[0]) : null;
}

export async function deleteConnector(db: Queryable, tenantId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query('delete from connectors where tenant_id = $1 and id = $2', [tenantId, id]);
  return (rowCount ?? 0) > 0;
}

/**
 * For a run: the connector with its credentials opened. With `tenantId` (always, for a job read from Redis) it is
 * found only when it belongs to that tenant; ids that are not UUIDs find nothing.
 */
export async function loadConnectorForRun(db: Queryable, box: SecretBox, id: string, tenantId?: string): Promise<ConnectorForRun | null> {
  if (!isUuid(id) || (tenantId !== undefined && !isUuid(tenantId))) return null;
  const { rows } = await db.query<Row>('select * from connectors where id = $1 and ($2::uuid is null or tenant_id = $2)', [
    id,
    tenantId ?? null,
  ]);
  return rows[0] ? connectorForRun(box, rows[0]) : null;
}

/** A `connectors` row as a run needs it, its connection opened. */
export function connectorForRun(box: SecretBox, r: Row): ConnectorForRun {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    connector_type: r.connector_type,
    vertical: r.vertical,
    entityType: r.entity_type,
    enabled: r.enabled,
    notifies: r.notify_url_sealed !== null,
    connection_config: JSON.parse(box.open(r.connection_config_sealed, owner(r.id))),
    settings: inputSettings(r),
  };
}

/** Where a connector's notifications go and the secret they are signed with, opened; null without a connector or notify. */
export async function notifyTargetOf(
  db: Queryable,
  box: SecretBox,
  tenantId: string,
  id: string,
): Promise<{ name: string; notify: NotifyConfig; secret: string } | null> {
  const r = await getRow(db, tenantId, id);
  const notify = r && openNotify(box, r);
  if (!r || !notify || !r.notify_secret_sealed) return null;
  return { name: r.name, notify, secret: box.open(r.notify_secret_sealed, notifySecretOwner(r.id)) };
}

/** Replaces a connector's signing secret (rotation, or a connector created before notifications had one); false: no connector. */
export async function setNotifySecret(db: Queryable, box: SecretBox, tenantId: string, id: string, secret: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'update connectors set notify_secret_sealed = $3, updated_at = now() where tenant_id = $1 and id = $2',
    [tenantId, id, box.seal(secret, notifySecretOwner(id))],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Gives a connector created before notifications had signing secrets this one; false when it has one already (set by
 * another request meanwhile, whose answer showed it).
 */
export async function addMissingNotifySecret(
  db: Queryable,
  box: SecretBox,
  tenantId: string,
  id: string,
  secret: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    'update connectors set notify_secret_sealed = $3 where tenant_id = $1 and id = $2 and notify_secret_sealed is null',
    [tenantId, id, box.seal(secret, notifySecretOwner(id))],
  );
  return rowCount === 1;
}

export interface ResealResult {
  /** Connection configs now sealed with the sealing key that were sealed with an older one. */
  resealed: number;
  /** Already sealed with the sealing key. */
  current: number;
  /** Sealed with a key the installation does not have: left as they are. */
  missingKey: Array<{ connectorId: string; keyId: string }>;
}

/** Every sealed value of a connector, with the owner its seal is bound to. */
const SEALED_COLUMNS = [
  ['connection_config_sealed', owner],
  ['notify_url_sealed', notifyUrlOwner],
  ['notify_secret_sealed', notifySecretOwner],
] as const;

/**
 * Seals every connection config (and notify URL and signing secret) that an older key sealed again with the sealing
 * key, so the older key can be removed from QANATIX_ENCRYPTION_KEYS. A value the API rewrites meanwhile is already
 * sealed with the sealing key: the compare-and-set leaves it alone. Counts connectors.
 */
export async function resealConnectionConfigs(db: Queryable, box: SecretBox): Promise<ResealResult> {
  const result: ResealResult = { resealed: 0, current: 0, missingKey: [] };
  const { rows } = await db.query<Record<(typeof SEALED_COLUMNS)[number][0], string | null> & { id: string }>(
    'select id, connection_config_sealed, notify_url_sealed, notify_secret_sealed from connectors order by id',
  );
  for (const r of rows) {
    let resealed = false;
    let missing = false;
    for (const [column, ownerOf] of SEALED_COLUMNS) {
      const sealed = r[column];
      if (sealed === null || !box.isStale(sealed)) continue;
      let plain: string;
      try {
        plain = box.open(sealed, ownerOf(r.id));
      } catch (err) {
        if (!(err instanceof MissingKeyError)) throw err;
        result.missingKey.push({ connectorId: r.id, keyId: err.keyId });
        missing = true;
        break;
      }
      const { rowCount } = await db.query(`update connectors set ${column} = $3 where id = $1 and ${column} = $2`, [
        r.id,
        sealed,
        box.seal(plain, ownerOf(r.id)),
      ]);
      if (rowCount) resealed = true;
    }
    if (missing) continue;
    if (resealed) result.resealed++;
    else result.current++;
  }
  return result;
}

/** The tenant's other connectors writing to one vertical and entity type, with their source_id setting. */
export async function connectorsOfTarget(
  db: Queryable,
  tenantId: string,
  vertical: string,
  entityType: string,
  exceptId: string,
): Promise<Array<{ id: string; name: string; source_id: unknown }>> {
  const { rows } = await db.query<{ id: string; name: string; source_id: unknown }>(
    `select id, name, settings->'source_id' as source_id from connectors
      where tenant_id = $1 and vertical = $2 and entity_type = $3 and id <> $4 order by name`,
    [tenantId, vertical, entityType, exceptId],
  );
  return rows;
}

/** Serializes the creation and changes of a tenant's connectors of one target until the transaction ends. */
export async function lockTarget(tx: Queryable, tenantId: string, vertical: string, entityType: string): Promise<void> {
  await tx.query("select pg_advisory_xact_lock(hashtextextended($1 || '/' || $2 || '/' || $3, 0))", [tenantId, vertical, entityType]);
}
