import { PaystreamError } from './errors';

/**
 * Bounds how much of one kind of work runs at once: at most `concurrency` tasks run, at most `queue` more wait (first
 * come, first run), and a task beyond both is refused at once with OVERLOADED (retryable), rather than piling up
 * behind the others until every caller times out. A task's failure frees its place like its success does.
 */
export class Bulkhead {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly queue: number,
    private readonly what: string,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError('concurrency must be an integer ≥ 1');
    if (!Number.isInteger(queue) || queue < 0) throw new RangeError('queue must be an integer ≥ 0');
  }

  /** Tasks running now, and waiting to run. */
  load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.concurrency) {
      if (this.waiting.length >= this.queue)
        throw PaystreamError.retryable('OVERLOADED', `too many ${this.what} at once; retry shortly`);
      // The place is handed over by the task that frees it, so a newcomer cannot take it first.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active += 1;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }
}
