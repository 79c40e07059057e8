import pg from 'pg';

export const ORDER_ENDED_CHANNEL = 'order_ended';

/**
 * One connection that LISTENs on a channel and hands each payload to `onNotify`, reconnecting after a loss.
 * Notifications sent while it is away are lost: a listener is a fast path, never the only one.
 */
export class Listener {
  private client: pg.Client | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly connectionString: string,
    private readonly channel: string,
    private readonly onNotify: (payload: string) => void,
    private readonly reconnectMs = 1_000,
  ) {}

  start(): void {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.connectionString, connectionTimeoutMillis: 5_000 });
    this.client = client;
    let lost = false;
    const reconnect = () => {
      if (lost) return;
      lost = true;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (!this.closed) this.retry = setTimeout(() => this.start(), this.reconnectMs);
    };
    client.on('error', reconnect);
    client.on('end', reconnect);
    client.on('notification', (n) => {
      if (n.channel === this.channel && n.payload !== undefined) this.onNotify(n.payload);
    });
    client
      .connect()
      .then(() => client.query(`listen ${pg.escapeIdentifier(this.channel)}`))
      .catch(reconnect);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await this.client?.end().catch(() => undefined);
  }
}
