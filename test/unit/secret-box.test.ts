import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { SecretBox } from '../../src/crypto/secret-box';

const k1 = randomBytes(32);
const k2 = randomBytes(32);

describe('SecretBox', () => {
  test('seals and opens; the sealed text does not contain the secret', () => {
    const box = new SecretBox([{ id: 'k1', key: k1 }]);
    const sealed = box.seal('{"password":"hunter2"}', 'connector:1');
    expect(sealed).not.toContain('hunter2');
    expect(sealed.startsWith('k1:')).toBe(true);
    expect(box.open(sealed, 'connector:1')).toBe('{"password":"hunter2"}');
  });
  test('a value sealed for one owner cannot be opened as another’s', () => {
    const box = new SecretBox([{ id: 'k1', key: k1 }]);
    expect(() => box.open(box.seal('x', 'connector:1'), 'connector:2')).toThrow(/could not be decrypted/);
  });
  test('rotation: the new key seals, the old one still opens', () => {
    const old = new SecretBox([{ id: 'k1', key: k1 }]);
    const rotated = new SecretBox([
      { id: 'k2', key: k2 },
      { id: 'k1', key: k1 },
    ]);
    const sealedOld = old.seal('secret', 'o');
    expect(rotated.open(sealedOld, 'o')).toBe('secret');
    expect(rotated.isStale(sealedOld)).toBe(true);
    expect(rotated.seal('secret', 'o').startsWith('k2:')).toBe(true);
    expect(() => new SecretBox([{ id: 'k2', key: k2 }]).open(sealedOld, 'o')).toThrow(/not in QANATIX_ENCRYPTION_KEYS/);
  });
  test('refuses to start without keys outside dev mode, and explains how to make one', () => {
    expect(() => SecretBox.fromEnv({}, false)).toThrow(/openssl rand -base64 32/);
    expect(SecretBox.fromEnv({}, true).open(SecretBox.fromEnv({}, true).seal('x', 'o'), 'o')).toBe('x');
    const box = SecretBox.fromEnv({ QANATIX_ENCRYPTION_KEYS: `a:${k1.toString('base64')},b:${k2.toString('base64')}` }, false);
    expect(box.seal('x', 'o').startsWith('a:')).toBe(true);
    expect(() => SecretBox.fromEnv({ QANATIX_ENCRYPTION_KEYS: 'a:short' }, false)).toThrow(/32 bytes/);
  });
});
