import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { MissingKeyError } from './missing-key-error';

/**
 * AES-256-GCM sealing of connection credentials. Keys come from the environment as
 * `QANATIX_ENCRYPTION_KEYS="<id>:<base64 32 bytes>,<id>:<base64 32 bytes>"`: the first seals, all open,
 * so a key can be rotated by putting a new one first and re-sealing (`qanatix reseal`) before the old one goes.
 * The associated data binds a sealed value to its owner (a connector id): it cannot be moved to another row.
 */
export class SecretBox {
  private readonly keys: Map<string, Buffer>;
  private readonly activeId: string;

  constructor(keys: Array<{ id: string; key: Buffer }>) {
    if (keys.length === 0) throw new Error('SecretBox needs at least one key');
    for (const k of keys) {
      if (k.key.length !== 32) throw new Error(`encryption key "${k.id}" must be 32 bytes (base64 of 32 random bytes)`);
      if (!/^[A-Za-z0-9_-]+$/.test(k.id)) throw new Error(`encryption key id "${k.id}" may hold letters, digits, _ and - only`);
    }
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
    this.activeId = keys[0]!.id;
  }

  /** From `QANATIX_ENCRYPTION_KEYS`; in dev mode without it, a fixed development key. */
  static fromEnv(env: NodeJS.ProcessEnv, dev: boolean): SecretBox {
    const spec = env.QANATIX_ENCRYPTION_KEYS?.trim();
    if (!spec) {
      if (!dev) {
        throw new Error(
          'QANATIX_ENCRYPTION_KEYS is not set: set it to "<id>:<base64 of 32 random bytes>" (e.g. k1:$(openssl rand -base64 32)), or QANATIX_DEV=1 for a local trial.',
        );
      }
      return new SecretBox([{ id: 'dev', key: createHash('sha256').update('qanatix-development-key').digest() }]);
    }
    return new SecretBox(
      spec.split(',').map((part) => {
        const i = part.indexOf(':');
        if (i < 1) throw new Error('QANATIX_ENCRYPTION_KEYS entries look like "<id>:<base64 key>"');
        return { id: part.slice(0, i).trim(), key: Buffer.from(part.slice(i + 1).trim(), 'base64') };
      }),
    );
  }

  seal(plaintext: string, owner: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.activeId)!, iv);
    cipher.setAAD(Buffer.from(owner));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [this.activeId, iv.toString('base64'), cipher.getAuthTag().toString('base64'), ct.toString('base64')].join(':');
  }

  open(sealed: string, owner: string): string {
    const [id, iv, tag, ct] = sealed.split(':');
    if (!id || !iv || !tag || ct === undefined) throw new Error('credentials are not a sealed value (damaged in the database?)');
    const key = this.keys.get(id);
    if (!key) throw new MissingKeyError(id);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(owner));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('credentials could not be decrypted (wrong key or tampered value)');
    }
  }

  /** The id of the key that seals. */
  get sealingKeyId(): string {
    return this.activeId;
  }

  /** Whether a sealed value uses an older key (to re-seal after a rotation). */
  isStale(sealed: string): boolean {
    return !sealed.startsWith(this.activeId + ':');
  }
}
