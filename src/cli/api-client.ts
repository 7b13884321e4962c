/**
 * The operational commands talk to the HTTP API like kubectl does: QANATIX_URL and QANATIX_API_KEY.
 * Exit codes scripts can rely on: 0 done, 1 the operation failed, 2 wrong usage, 3 the API could not be
 * reached or refused the key.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, needsConfirmation: 4, drift: 5, doctorFailed: 6 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface ApiResponse<T> {
  status: number;
  body: T;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly key: string,
  ) {}

  static fromEnv(env: NodeJS.ProcessEnv = process.env): ApiClient {
    const key = env.QANATIX_API_KEY;
    if (!key)
      throw new CliError(
        'QANATIX_API_KEY is not set: create a key with "qanatix keys create --tenant <t> --scopes connectors,admin" and export it.',
        EXIT.usage,
      );
    return new ApiClient((env.QANATIX_URL ?? 'http://127.0.0.1:8000').replace(/\/$/, ''), key);
  }

  /** Any status below 500 comes back to the caller except 401/403, which end the command (exit 3). */
  async request<T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${this.key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (err) {
      throw new CliError(
        `cannot reach the qanatix API at ${this.baseUrl} (${(err as Error).cause ?? (err as Error).message}); is it running? (QANATIX_URL)`,
        EXIT.unreachable,
      );
    }
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : null;
    if (res.status === 401 || res.status === 403) throw new CliError(`the API refused the key: ${detailOf(parsed)}`, EXIT.unreachable);
    if (res.status >= 500) throw new CliError(`the API failed: ${detailOf(parsed)}`);
    return { status: res.status, body: parsed as T };
  }

  /** Like `request`, but any 4xx is an error with the API's own message. */
  async ok<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request<T>(method, path, body);
    if (res.status >= 400) throw new CliError(detailOf(res.body));
    return res.body;
  }
}

export function detailOf(body: unknown): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail))
    return detail.map((d: { loc?: unknown[]; msg?: string }) => `${(d.loc ?? []).join('.')}: ${d.msg}`).join('\n  ');
  return JSON.stringify(body);
}

/** A connector by name or id. */
export async function findConnector(api: ApiClient, ref: string): Promise<{ id: string; name: string; [k: string]: unknown }> {
  const all = await api.ok<Array<{ id: string; name: string }>>('GET', '/connectors');
  const found = all.find((c) => c.id === ref) ?? all.find((c) => c.name === ref);
  if (!found) throw new CliError(`no connector named or with id "${ref}" (see "qanatix connectors list")`);
  return found;
}
