import type { Kafka } from 'kafkajs';

import { PaystreamError } from '../errors';
import { parseIsoInstant } from '../iso-instant';

/**
 * Consumer-group operations behind replay: the same effect as Kafka's own
 * `kafka-consumer-groups --reset-offsets --to-earliest|--to-datetime … --execute`, through the admin API.
 */
export type ReplayTarget = { earliest: true } | { time: Date };

export function parseReplayTarget(text: string): ReplayTarget {
  if (text === 'earliest') return { earliest: true };
  const time = parseIsoInstant(text);
  if (!(time instanceof Date)) {
    throw new PaystreamError(
      'VALIDATION_FAILED',
      `--to: expected "earliest" or an ISO time with its zone such as 2026-11-24T10:00:00Z, got "${text}"` +
        (time === 'no such day' ? ' (no such day or time)' : ''),
    );
  }
  return { time };
}

/** Refuses while the group has members: offsets of a running group cannot be moved safely. */
export async function assertGroupInactive(kafka: Kafka, groupId: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    const members = groups[0]?.members.length ?? 0;
    if (members > 0) {
      throw new PaystreamError(
        'VALIDATION_FAILED',
        `consumer group ${groupId} has ${members} active member(s); stop them before resetting its offsets`,
      );
    }
  } finally {
    await admin.disconnect();
  }
}

/** Moves the group's committed offsets on the given topics (default: every topic it has offsets for). */
export async function resetGroupOffsets(
  kafka: Kafka,
  groupId: string,
  target: ReplayTarget,
  topics?: readonly string[],
): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]> {
  await assertGroupInactive(kafka, groupId);
  const admin = kafka.admin();
  await admin.connect();
  try {
    let names = topics ? [...topics] : (await admin.fetchOffsets({ groupId })).map((t) => t.topic);
    names = [...new Set(names)];
    if (names.length === 0) {
      throw new PaystreamError(
        'VALIDATION_FAILED',
        `consumer group ${groupId} has no committed offsets; name the topics with --topic`,
      );
    }
    const done: { topic: string; partitions: { partition: number; offset: string }[] }[] = [];
    for (const topic of names) {
      const partitions =
        'earliest' in target
          ? (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, offset: o.low }))
          : (await admin.fetchTopicOffsetsByTimestamp(topic, target.time.getTime())).map((o) => ({
              partition: o.partition,
              offset: o.offset,
            }));
      done.push({ topic, partitions });
    }
    await commitGroupOffsets(kafka, groupId, done);
    return done;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Commits offsets for an inactive group in one short-lived member of it, for every topic at once (kafkajs's own
 * `admin.setOffsets` joins the group once per topic and waits out a 5 s fetch each time).
 */
async function commitGroupOffsets(
  kafka: Kafka,
  groupId: string,
  topics: readonly { topic: string; partitions: readonly { partition: number; offset: string }[] }[],
): Promise<void> {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: topics.map((t) => t.topic), fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.FETCH, () => {
        consumer.stop().then(resolve, reject);
      });
      // autoCommit (the default) commits every seek; no record is consumed: all partitions stay paused.
      consumer.run({ eachBatchAutoResolve: false, eachBatch: () => Promise.resolve() }).catch(reject);
      consumer.pause(topics.map((t) => ({ topic: t.topic })));
      for (const t of topics)
        for (const p of t.partitions) consumer.seek({ topic: t.topic, partition: p.partition, offset: p.offset });
    });
  } finally {
    await consumer.disconnect();
  }
}

/** Records the group still has to read on the given topics (its lag), and whether it has active members. */
export async function groupLag(
  kafka: Kafka,
  groupId: string,
  topics: readonly string[],
): Promise<{ lag: number; members: number }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    let lag = 0;
    const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const done = new Map(
        (committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]),
      );
      for (const e of ends) {
        const at = done.get(e.partition) ?? -1n;
        lag += Number(BigInt(e.high) - (at < 0n ? BigInt(e.low) : at));
      }
    }
    const { groups } = await admin.describeGroups([groupId]);
    return { lag, members: groups[0]?.members.length ?? 0 };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Polls the group's lag until it is zero, drawing a progress bar on `out` (a TTY line redrawn in place, or one line
 * per second otherwise). Consumers that commit past trailing transaction markers (the sink does) reach lag 0.
 */
export async function waitForCatchUp(
  kafka: Kafka,
  groupId: string,
  topics: readonly string[],
  out: { write(s: string): unknown; isTTY?: boolean },
  timeoutMs = 30 * 60_000,
): Promise<void> {
  const started = Date.now();
  let initial: number | undefined;
  let lastPrinted = 0;
  for (;;) {
    const { lag, members } = await groupLag(kafka, groupId, topics);
    initial ??= Math.max(lag, 1);
    const done = Math.max(0, Math.min(1, 1 - lag / initial));
    const width = 30;
    const bar = `[${'#'.repeat(Math.round(done * width)).padEnd(width, '-')}] ${(done * 100).toFixed(0).padStart(3)}% lag ${lag}${
      members === 0 && lag > 0 ? ' (waiting for the group to run)' : ''
    }`;
    // On a terminal the bar is redrawn in place; otherwise one line per second, and always the last one.
    if (out.isTTY) out.write(`\r${bar}`);
    else if (lag === 0 || Date.now() - lastPrinted >= 1_000) {
      out.write(`${bar}\n`);
      lastPrinted = Date.now();
    }
    if (lag === 0) {
      if (out.isTTY) out.write('\n');
      out.write(`caught up: lag 0 after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      return;
    }
    if (Date.now() - started > timeoutMs)
      throw new PaystreamError('INTERNAL', `group ${groupId} did not catch up within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
