import { describe, expect, test } from 'vitest';
import { ConfigError } from '../../../connectors/config-error';
import { validateConnectorConfig } from '../../../connectors/connector-config';
import { compileDeletedTest, compileSourceIdOf, sourceIdsDisjoint } from '../../../connectors/map-record';
import { planRead } from '../../../connectors/keyset-plan';
import { ConnectorError } from '../../../connectors/connector-error';

const pg = { connector_type: 'postgresql', connection_config: { dsn: 'postgres://reader:s3cret@db.example:5432/shop' }, table: 'products' };

function issuesOf(raw: unknown) {
  try {
    validateConnectorConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => ({ loc: i.loc.join('.'), type: i.type }));
  }
  throw new Error('expected a ConfigError');
}

describe('deletes and verify settings', () => {
  test('deletes take a mode, a soft-delete column and its value, a share for the guard and schedules', () => {
    const def = validateConnectorConfig({
      ...pg,
      deletes: { mode: 'soft', column: 'is_deleted', deleted_when: true, max_fraction: 0.2, sweep_schedule: '0 3 * * *' },
      verify_schedule: '0 4 * * 0',
    });
    expect(def.deletes).toEqual({ mode: 'soft', column: 'is_deleted', deleted_when: true, max_fraction: 0.2, sweep_schedule: '0 3 * * *' });
    expect(def.verify_schedule).toBe('0 4 * * 0');
    expect(validateConnectorConfig(def)).toEqual(def);
  });

  test.each([
    [{ mode: 'purge' }, 'deletes.mode', 'invalid_value'],
    [{ mode: 'soft', max_fraction: 0 }, 'deletes.max_fraction', 'invalid_value'],
    [{ mode: 'soft', max_fraction: 1.5 }, 'deletes.max_fraction', 'invalid_value'],
    [{ mode: 'soft', max_fraction: '0.5' }, 'deletes.max_fraction', 'invalid_value'],
    [{ mode: 'soft', deleted_when: true }, 'deletes.deleted_when', 'conflict'],
    [{ mode: 'soft', column: 'x', deleted_when: { $ne: 1 } }, 'deletes.deleted_when', 'invalid_type'],
    [{ mode: 'off', column: 'deleted_at' }, 'deletes.column', 'conflict'],
    [{ mode: 'off', sweep_schedule: '0 3 * * *' }, 'deletes.sweep_schedule', 'conflict'],
    [{ mode: 'hard', typo: 1 }, 'deletes.typo', 'unknown_field'],
    ['hard', 'deletes', 'invalid_type'],
  ])('deletes %j is refused at %s (%s)', (deletes, loc, type) => {
    expect(issuesOf({ ...pg, deletes })).toEqual([{ loc, type }]);
  });

  test('a row counts as deleted when its column is not null, or equals the value (booleans as sources spell them)', () => {
    expect(compileDeletedTest({ column: null, deleted_when: 'not_null' })).toBeNull();
    const notNull = compileDeletedTest({ column: 'deleted_at', deleted_when: 'not_null' })!;
    expect([{ deleted_at: null }, {}, { deleted_at: '2026-01-01T00:00:00Z' }].map(notNull)).toEqual([false, false, true]);
    const flag = compileDeletedTest({ column: 'is_deleted', deleted_when: true })!;
    expect([{ is_deleted: true }, { is_deleted: 1 }, { is_deleted: false }, { is_deleted: 0 }, { is_deleted: null }].map(flag)).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
    const status = compileDeletedTest({ column: 'status', deleted_when: 'D' })!;
    expect([{ status: 'D' }, { status: 'A' }, { status: 'd' }].map(status)).toEqual([true, false, false]);
  });

  test('a sweep computes source_ids exactly as the mapper does, reading only their columns', () => {
    expect(compileSourceIdOf({ source_id: null }, ['id']).columns).toEqual(['id']);
    const composite = compileSourceIdOf({ source_id: null }, ['region', 'id']);
    expect(composite.sourceIdOf({ region: 'e:u', id: 7 })).toBe('e%3Au:7');
    const template = compileSourceIdOf({ source_id: 'pg-{region}-{id}' }, ['id']);
    expect(template.columns).toEqual(['region', 'id']);
    expect(template.sourceIdOf({ region: 'eu', id: 7 })).toBe('pg-eu-7');
    expect(template.sourceIdOf({ region: null, id: 7 })).toBeNull();
  });
});

describe('connectors whose source_ids cannot collide', () => {
  test.each([
    ['pg-{id}', 'my-{id}', true],
    ['{id}@pg', '{id}@my', true],
    ['pg:{id}', 'pg-eu:{id}', true],
    ['pg-{id}', 'pg-{id}', false],
    ['pg-{id}', 'pg-e{id}', false],
    ['p-{id}', 'p-{{x}}{id}', false],
    ['pg-{id}', null, false],
    [null, null, false],
    ['id', 'sku', false],
    ['{id}', '{sku}', false],
  ])('%s and %s are disjoint: %s', (a, b, disjoint) => {
    expect(sourceIdsDisjoint(a, b)).toBe(disjoint);
    expect(sourceIdsDisjoint(b, a)).toBe(disjoint);
  });
});

describe('a key-order read', () => {
  const column = (name: string) => ({ name, type: 'bigint', temporal: false, nullable: false });
  test('pages by the key alone, without cursor conditions or lag, and resumes after a key position', () => {
    const source = { cursor: { ...column('updated_at'), temporal: true }, key: [column('region'), column('id')], label: 'table "t"' };
    const settings = { lagSeconds: 60, defaultLagSeconds: 60, initialValue: '2026-01-01T00:00:00Z' };
    const first = planRead(source, settings, { mode: 'keys', cursor: null, now: '2026-11-01T00:00:00Z' });
    expect(first).toEqual({
      kind: 'keyset',
      phases: [{ nulls: false, order: source.key, conditions: [], after: null, key: [source.key[1]], cursor: source.key[0] }],
    });
    const resumed = planRead(source, settings, { mode: 'keys', cursor: { value: 'eu', key: [7] }, now: '2026-11-01T00:00:00Z' });
    expect(resumed.kind === 'keyset' && resumed.phases[0]!.after).toEqual(['eu', 7]);
  });

  test('a source without a key cannot be swept', () => {
    expect(() =>
      planRead(
        { cursor: null, key: [], label: 'the query' },
        { lagSeconds: null, defaultLagSeconds: 60, initialValue: null },
        { mode: 'keys', cursor: null, now: 'x' },
      ),
    ).toThrow(ConnectorError);
  });
});
