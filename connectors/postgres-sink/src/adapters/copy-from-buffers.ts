import type { Connection, PoolClient, Submittable } from 'pg';

const COPY_DATA = 0x64; // 'd'
const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4]); // 'c', length 4

/**
 * `COPY … FROM STDIN` of data already in memory, on one pg client: the statement, then — once the server answers
 * CopyInResponse — every CopyData message and CopyDone in a single `writev`. (pg-copy-streams' Writable sends each
 * chunk's header, the chunk and CopyDone as writes of their own and costs a stream pipeline per statement; on a
 * loaded machine those system calls were most of the sink's CPU at its usual small batches.)
 *
 * Settles once the server has answered the whole statement: resolves with the rows it copied; rejects with the
 * server's error (the statement is then over and the connection takes the next one, `rollback to savepoint` say) or
 * with pg's `Query read timeout` when the client's deadline passes first (the pool then discards the connection).
 */
export function copyFromBuffers(client: PoolClient, sql: string, data: readonly Buffer[]): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    client.query(new CopyFromBuffers(sql, data, (err, rows) => (err ? reject(err) : resolve(rows ?? 0))));
  });
}

/**
 * The statement as pg's client drives a custom query: `submit` sends it; the client hands the active query the
 * server's CopyInResponse, CommandComplete and ReadyForQuery, or an ErrorResponse (after which it is no longer the
 * active query, and ReadyForQuery is not handed to it). `callback` is what pg wraps for its read timeout.
 */
class CopyFromBuffers implements Submittable {
  private rows = 0;

  constructor(
    private readonly text: string,
    private readonly data: readonly Buffer[],
    public callback: (err: Error | null, rows?: number) => void,
  ) {}

  submit(connection: Connection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: Connection): void {
    const out = connection.stream;
    out.cork();
    for (const chunk of this.data) {
      if (chunk.length === 0) continue;
      const header = Buffer.allocUnsafe(5);
      header[0] = COPY_DATA;
      header.writeInt32BE(chunk.length + 4, 1);
      out.write(header);
      out.write(chunk);
    }
    out.write(COPY_DONE);
    out.uncork();
  }

  handleCommandComplete(message: { text?: string }): void {
    const copied = /^COPY (\d+)/.exec(message.text ?? '');
    if (copied) this.rows = Number(copied[1]);
  }

  handleReadyForQuery(): void {
    this.callback(null, this.rows);
  }

  handleError(err: Error): void {
    this.callback(err);
  }
}
