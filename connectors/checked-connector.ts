import type { CursorScalar, DescribedSource, ReadPlan, RowBatch, SourceConnector, SourceTable } from './contract';
import { ConnectorError } from './connector-error';
import type { DoctorProbes } from './contract';
import type { Lease } from './shared-pools';

/**
 * A connector whose source is checked before anything connects: `open` checks where the source is (see
 * `SourceReach`) and leases the driver's connector for the addresses it checked (kept across runs, see
 * registry.ts). A refusal or an unresolvable host surfaces from the first call, like any other connection error.
 * Closing hands the driver's connector back; after a failure it is discarded, so the next run starts afresh.
 */
export class CheckedConnector implements SourceConnector {
  private opened: Promise<Lease<SourceConnector>> | null = null;
  private failed = false;

  constructor(private readonly open: () => Promise<Lease<SourceConnector>>) {}

  async check(): Promise<void> {
    await this.use((c) => c.check());
  }

  async discover(): Promise<SourceTable[]> {
    return this.use((c) => {
      if (!c.discover) throw new ConnectorError('config', 'this source type cannot list its tables');
      return c.discover();
    });
  }

  async describe(plan?: Pick<ReadPlan, 'mode' | 'lastPull'>): Promise<DescribedSource> {
    return this.use((c) => c.describe(plan));
  }

  async clock(): Promise<string> {
    return this.use((c) => c.clock());
  }

  read(plan: ReadPlan, signal: AbortSignal): AsyncIterable<RowBatch> {
    return this.readBatches(plan, signal);
  }

  async heldBack(plan: ReadPlan, cap: number): Promise<{ rows: number; first: CursorScalar } | null> {
    return this.use(async (c) => (c.heldBack ? c.heldBack(plan, cap) : null));
  }

  async doctor(plan: ReadPlan, timeoutMs: number): Promise<DoctorProbes> {
    return this.use(async (c) => {
      if (!c.doctor) throw new ConnectorError('config', 'this source type has no doctor');
      return c.doctor(plan, timeoutMs);
    });
  }

  async close(): Promise<void> {
    const lease = await this.opened?.catch(() => null);
    lease?.release(this.failed);
  }

  private async *readBatches(plan: ReadPlan, signal: AbortSignal): AsyncGenerator<RowBatch> {
    try {
      yield* (await this.lease()).pool.read(plan, signal);
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  private async use<T>(work: (connector: SourceConnector) => Promise<T>): Promise<T> {
    try {
      return await work((await this.lease()).pool);
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  private lease(): Promise<Lease<SourceConnector>> {
    return (this.opened ??= this.open());
  }
}
