/** A sealed value names a key the installation no longer has: say which, and how to recover. */
export class MissingKeyError extends Error {
  constructor(readonly keyId: string) {
    super(
      `credentials are sealed with encryption key "${keyId}", which is not in QANATIX_ENCRYPTION_KEYS: ` +
        `put "${keyId}" back after the key that seals now, run \`qanatix reseal\`, and only then remove it`,
    );
    this.name = 'MissingKeyError';
    Object.setPrototypeOf(this, MissingKeyError.prototype);
  }
}
