import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, runCommand, startService, waitForHttp, type Service } from '../lib/child-process';

export interface ApiServerOptions {
  /** The checkout whose bin/qanatix.mjs runs (this one, another revision, a clean export). */
  root: string;
  databaseUrl: string;
  /** When set, each server process writes a V8 CPU profile into <dir>/<tag>/ on exit. */
  profileDir?: string;
}

/**
 * `qanatix api` as a child process. Each scenario gets a fresh process (`restart`), so its peak RSS
 * and CPU profile are its own and not the heap an earlier scenario left behind.
 */
export class ApiServer {
  private service: Service | undefined;
  private port = 0;

  constructor(private readonly opts: ApiServerOptions) {}

  get pid(): number {
    if (!this.service) throw new Error('the API server is not running');
    return this.service.pid;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  tail(): string {
    return this.service?.tail() ?? '';
  }

  /** For error messages: whether the server is still up, and if not how it ended. */
  state(): string {
    const status = this.service?.exitStatus();
    if (!this.service) return 'not running';
    return status ? `exited (code ${status.code}, signal ${status.signal})` : `running (pid ${this.service.pid})`;
  }

  private env(): NodeJS.ProcessEnv {
    // NODE_OPTIONS is cleared, not inherited: tsx's own loader flags must not reach the child.
    // A limit no load here reaches: the limiter's cost is measured, its refusals would only distort the numbers.
    const limits = { RATE_LIMIT_PER_MINUTE: '1000000' };
    return {
      ...process.env,
      QANATIX_DEV: '1',
      DATABASE_URL: this.opts.databaseUrl,
      HOST: '127.0.0.1',
      PORT: String(this.port),
      NODE_OPTIONS: '',
      ...limits,
    };
  }

  async restart(tag: string): Promise<void> {
    await this.stop();
    this.port ||= await freePort();
    // Node 20 refuses --cpu-prof in NODE_OPTIONS, so it goes on the command line.
    const nodeArgs: string[] = [];
    if (this.opts.profileDir) {
      const dir = join(this.opts.profileDir, tag);
      mkdirSync(dir, { recursive: true });
      nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
    }
    // process.execPath rather than the shebang: the child's pid is then the Node process we measure.
    this.service = startService(process.execPath, [...nodeArgs, 'bin/qanatix.mjs', 'api'], { env: this.env(), cwd: this.opts.root });
    await waitForHttp(`${this.baseUrl}/healthz`, this.service);
  }

  /** SIGTERM: the server closes cleanly, which is also when --cpu-prof writes its profile. */
  async stop(): Promise<void> {
    await this.service?.stop();
    this.service = undefined;
  }

  /** `qanatix keys create`: a key for `tenant` (created when missing) with the given scopes. */
  async createKey(tenant: string, scopes: string): Promise<string> {
    const args = ['bin/qanatix.mjs', 'keys', 'create', '--tenant', tenant, '--scopes', scopes];
    return (await runCommand(process.execPath, args, { env: this.env(), cwd: this.opts.root })).stdout.trim();
  }
}
