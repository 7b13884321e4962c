/**
 * Sets `key` on `target` as an own data property, even for `__proto__`, which plain assignment would take
 * as the object's prototype (a source column or document field may be called that).
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
