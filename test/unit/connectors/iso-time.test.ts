import { describe, expect, test } from 'vitest';
import { EPOCH_ISO, isIsoTimestamp, isoToMicros, microsToIso, subtractSeconds, toUtcIso } from '../../../connectors/iso-time';

describe('iso-time', () => {
  test('keeps microseconds that a JS Date would drop', () => {
    expect(subtractSeconds('2026-01-02T03:04:05.123456Z', 60)).toBe('2026-01-02T03:03:05.123456Z');
    expect(subtractSeconds('2026-01-02T03:04:05.000001Z', 0.000001)).toBe('2026-01-02T03:04:05.000000Z');
    expect(subtractSeconds('2026-01-02T03:04:05Z', -0.5)).toBe('2026-01-02T03:04:05.500000Z');
  });

  test('crosses days, months, leap days and years', () => {
    expect(subtractSeconds('2024-03-01T00:00:30.000000Z', 60)).toBe('2024-02-29T23:59:30.000000Z');
    expect(subtractSeconds('2026-01-01T00:00:00.000000Z', 1)).toBe('2025-12-31T23:59:59.000000Z');
    expect(subtractSeconds('1970-01-01T00:00:00Z', 1)).toBe('1969-12-31T23:59:59.000000Z');
  });

  test('normalises offsets and the space separator to UTC with six digits', () => {
    expect(toUtcIso('2026-01-02 03:04:05.5+02:00')).toBe('2026-01-02T01:04:05.500000Z');
    expect(toUtcIso('2026-01-02T03:04:05-0130')).toBe('2026-01-02T04:34:05.000000Z');
    expect(toUtcIso('2026-01-02')).toBe('2026-01-02T00:00:00.000000Z');
    expect(toUtcIso('2026-01-02T03:04:05.1234567Z')).toBe('2026-01-02T03:04:05.123456Z');
  });

  test('epoch, far years', () => {
    expect(isoToMicros(EPOCH_ISO)).toBe(0n);
    expect(microsToIso(-1n)).toBe('1969-12-31T23:59:59.999999Z');
    expect(toUtcIso('+012345-01-01T00:00:00Z')).toBe('+012345-01-01T00:00:00.000000Z');
    expect(toUtcIso('-000043-03-15T00:00:00Z')).toBe('-000043-03-15T00:00:00.000000Z');
  });

  test('recognises timestamps', () => {
    expect(isIsoTimestamp('2026-01-02T03:04:05Z')).toBe(true);
    expect(isIsoTimestamp('2026-01-02')).toBe(true);
    expect(isIsoTimestamp('yesterday')).toBe(false);
    expect(() => isoToMicros('yesterday')).toThrow(/not an ISO 8601 timestamp/);
  });
});
