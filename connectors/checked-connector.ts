import type { CursorScalar, ReadPlan, RowBatch, SourceConnector, SourceTable } from './contract';
import { ConnectorError } from './connector-error';

/**
 * A connector whose source is checked before anything connects: `open` checks where the source is (see
 * `SourceReach`) and builds the driver's connector on the addresses it checked. A refusal or an unresolvable
 * host surfaces from the first call, like any other connection error.
 */
export class CheckedConnector implements SourceConnector {
  private opened: Promise<SourceConnector> | null = null;

  constructor(private readonly open: () => Promise<SourceConnector>) {}

  async check(): Promise<void> {
    await (await this.connector()).check();
  }

  async discover(): Promise<SourceTable[]> {
    const connector = await this.connector();
    if (!connector.discover) throw new ConnectorError('config', 'this source type cannot list its tables');
    return connector.discover();
  }

  async describe(plan?: ReadPlan): Promise<SourceTable> {
    return (await this.connector()).describe(plan);
  }

  async clock(): Promise<string> {
    return (await this.connector()).clock();
  }

  read(plan: ReadPlan, signal: AbortSignal): AsyncIterable<RowBatch> {
    return this.readBatches(plan, signal);
  }

  async heldBack(plan: ReadPlan, cap: number): Promise<{ rows: number; first: CursorScalar } | null> {
    const connector = await this.connector();
    return connector.heldBack ? connector.heldBack(plan, cap) : null;
  }

  async close(): Promise<void> {
    const connector = await this.opened?.catch(() => null);
    await connector?.close();
  }

  private async *readBatches(plan: ReadPlan, signal: AbortSignal): AsyncGenerator<RowBatch> {
    yield* (await this.connector()).read(plan, signal);
  }

  private connector(): Promise<SourceConnector> {
    return (this.opened ??= this.open());
  }
}
