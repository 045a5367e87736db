import { Bulkhead } from '../../../services/platform/src/bulkhead';
import { PaystreamError } from '../../../services/platform/src/errors';

/** A task that runs until `finish` is called, recording when it started. */
function gate(log: string[], name: string) {
  let finish!: (fail?: boolean) => void;
  const task = () =>
    new Promise<string>((resolve, reject) => {
      log.push(`start ${name}`);
      finish = (fail = false) => (fail ? reject(new Error(`${name} failed`)) : resolve(name));
    });
  return { task, finish: (fail?: boolean) => finish(fail) };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('Bulkhead', () => {
  it('runs at most `concurrency` at once, queues up to `queue` in arrival order, and refuses the rest at once', async () => {
    const log: string[] = [];
    const bulkhead = new Bulkhead(2, 2, 'password hashes');
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => gate(log, n)) as [
      ReturnType<typeof gate>,
      ReturnType<typeof gate>,
      ReturnType<typeof gate>,
      ReturnType<typeof gate>,
    ];
    const runs = [a, b, c, d].map((g) => bulkhead.run(g.task).catch((e: unknown) => (e as Error).message));
    await settle();
    expect(log).toEqual(['start a', 'start b']);
    expect(bulkhead.load()).toEqual({ active: 2, waiting: 2 });

    const refused = await bulkhead.run(() => Promise.resolve('e')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PaystreamError);
    expect(refused).toMatchObject({ code: 'OVERLOADED', retryable: true });
    expect((refused as Error).message).toBe('too many password hashes at once; retry shortly');

    // A failure frees its place as a success does; the waiting run in arrival order.
    b.finish(true);
    await settle();
    expect(log).toEqual(['start a', 'start b', 'start c']);
    a.finish();
    await settle();
    expect(log).toEqual(['start a', 'start b', 'start c', 'start d']);
    c.finish();
    d.finish();
    expect(await Promise.all(runs)).toEqual(['a', 'b failed', 'c', 'd']);
    expect(bulkhead.load()).toEqual({ active: 0, waiting: 0 });
  });

  it('a place freed is handed to the one waiting, not to a newcomer', async () => {
    const log: string[] = [];
    const bulkhead = new Bulkhead(1, 1, 'tasks');
    const first = gate(log, 'first');
    const waiting = gate(log, 'waiting');
    const later = gate(log, 'later');
    const runs = [bulkhead.run(first.task), bulkhead.run(waiting.task)];
    await settle();
    first.finish();
    // Arriving in the turn the place is freed, before it is handed over: the queue is still full.
    await expect(bulkhead.run(() => Promise.resolve('newcomer'))).rejects.toMatchObject({ code: 'OVERLOADED' });
    await settle();
    // Handed over: `waiting` runs; the next to come waits behind it instead of running beside it.
    expect(log).toEqual(['start first', 'start waiting']);
    const third = bulkhead.run(later.task);
    await settle();
    expect(log).toEqual(['start first', 'start waiting']);
    expect(bulkhead.load()).toEqual({ active: 1, waiting: 1 });
    waiting.finish();
    await settle();
    expect(log).toEqual(['start first', 'start waiting', 'start later']);
    later.finish();
    expect(await Promise.all([...runs, third])).toEqual(['first', 'waiting', 'later']);
    expect(bulkhead.load()).toEqual({ active: 0, waiting: 0 });
  });

  it('with no queue, refuses whatever finds every place taken', async () => {
    const bulkhead = new Bulkhead(1, 0, 'tasks');
    const log: string[] = [];
    const only = gate(log, 'only');
    const run = bulkhead.run(only.task);
    await expect(bulkhead.run(() => Promise.resolve(1))).rejects.toMatchObject({ code: 'OVERLOADED' });
    only.finish();
    await run;
    await expect(bulkhead.run(() => Promise.resolve(2))).resolves.toBe(2);
  });

  it('refuses nonsense bounds', () => {
    expect(() => new Bulkhead(0, 1, 'x')).toThrow(RangeError);
    expect(() => new Bulkhead(1, -1, 'x')).toThrow(RangeError);
    expect(() => new Bulkhead(1.5, 1, 'x')).toThrow(RangeError);
  });
});
