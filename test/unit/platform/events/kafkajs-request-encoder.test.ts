import {
  frameRequest,
  kafkajsRequestEncoders,
  produceRequestV3,
} from '../../../../services/platform/src/events/kafkajs-request-encoder';
import type { ProduceRequestInput } from '../../../../services/platform/src/events/kafkajs-request-encoder';

/* eslint-disable @typescript-eslint/no-require-imports */
const Long = require('kafkajs/src/utils/long') as { fromString(s: string): object; fromValue(v: number): object };
const installedV3 = require('kafkajs/src/protocol/requests/produce/v3/request') as unknown;
const installedV7 = require('kafkajs/src/protocol/requests/produce/v7/request') as (
  input: ProduceRequestInput,
) => ReturnType<typeof produceRequestV3>;
const installedFraming = require('kafkajs/src/protocol/request') as unknown;
/* eslint-enable @typescript-eslint/no-require-imports */

const theirs = kafkajsRequestEncoders();
const bytes = async (request: ReturnType<typeof produceRequestV3>) => (await request.encode()).buffer;

const headers = { 'event-id': 'chg-1:result', 'correlation-id': 'op-9', 'event-type': 'paystream.ledger.LedgerResult' };
const messages = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({
    key: i % 3 === 0 ? null : `acct-${tag}-${i}`,
    value: i % 4 === 0 ? `ünïcødé ${tag} ${i}` : Buffer.from([0, 0, 0, 0, 7, i & 255, 250]),
    headers: i % 2 === 0 ? headers : { 'event-id': [`${tag}-${i}`, 'again'] },
  }));

const requests: [string, ProduceRequestInput][] = [
  [
    'transactional, two topics of two partitions, sequences',
    {
      acks: -1,
      timeout: 30_000,
      transactionalId: 'paystream.ledger.t-ledger.commands.3',
      producerId: Long.fromString('9007199254740993'),
      producerEpoch: 7,
      compression: 0,
      topicData: [
        {
          topic: 'ledger.results',
          partitions: [
            { partition: 0, firstSequence: 41, messages: messages(3, 'a') },
            { partition: 5, firstSequence: 0, messages: messages(200, 'b') },
          ],
        },
        {
          topic: 'ledger.entries',
          partitions: [{ partition: 2, firstSequence: 2_147_483_000, messages: messages(1, 'c') }],
        },
      ],
    },
  ],
  [
    'idempotent, not transactional, acks 1, defaults left out',
    {
      acks: 1,
      timeout: 5_000,
      producerId: Long.fromValue(12),
      topicData: [{ topic: 'tōpic', partitions: [{ partition: 1, messages: messages(7, 'd') }] }],
    },
  ],
  [
    'plain producer, empty transactional id string',
    {
      acks: -1,
      timeout: 1,
      transactionalId: '',
      topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: 'k', value: null }] }] }],
    },
  ],
];

describe("kafkajs produce request and framing: the same bytes as kafkajs' own", () => {
  beforeEach(() => jest.spyOn(Date, 'now').mockReturnValue(1_764_000_000_123));
  afterEach(() => jest.restoreAllMocks());

  it('is what kafkajs loads (produce v3, which v4–v7 build on, and the request framing)', async () => {
    expect(installedV3).toBe(produceRequestV3);
    expect(installedFraming).toBe(frameRequest);
    const [, input] = requests[0] as [string, ProduceRequestInput];
    const v7 = installedV7(input);
    expect(v7.apiVersion).toBe(7);
    expect(await bytes(v7)).toEqual(await bytes(produceRequestV3(input)));
  });

  it.each(requests)('%s', async (_name, input) => {
    const ours = produceRequestV3(input);
    const original = theirs.produceV3?.(input);
    if (!original) throw new Error("kafkajs' produce request is missing");
    expect({ ...ours, encode: undefined, expectResponse: ours.expectResponse() }).toEqual({
      ...original,
      encode: undefined,
      expectResponse: original.expectResponse(),
    });
    expect((await bytes(ours)).equals(await bytes(original))).toBe(true);
  });

  it('acks 0 expects no response', () => {
    const [, input] = requests[1] as [string, ProduceRequestInput];
    expect(produceRequestV3({ ...input, acks: 0 }).expectResponse()).toBe(false);
  });

  it("leaves compressed requests and messages with their own timestamp to kafkajs' encoder", async () => {
    const [, input] = requests[1] as [string, ProduceRequestInput];
    const stamped: ProduceRequestInput = {
      ...input,
      topicData: [
        { topic: 't', partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v', timestamp: 1_000 }] }] },
      ],
    };
    for (const delegated of [stamped, { ...input, compression: 1 }]) {
      const original = theirs.produceV3?.(delegated);
      if (!original) throw new Error("kafkajs' produce request is missing");
      expect((await bytes(produceRequestV3(delegated))).equals(await bytes(original))).toBe(true);
    }
  });

  it.each([
    ['a client id', 'paystream-ledger'],
    ['a non-ASCII client id', 'grüße-💶'],
    ['no client id', null],
  ])('frames a request with %s', async (_name, clientId) => {
    const body = Buffer.from('the encoded request body');
    const request = { apiKey: 24, apiVersion: 1, encode: () => Promise.resolve({ buffer: body }) };
    const original = theirs.framing;
    if (!original) throw new Error("kafkajs' request framing is missing");
    const ours = await frameRequest({ correlationId: 123_456, clientId, request });
    // kafkajs' framing takes an Encoder body; give it one holding the same bytes.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Encoder = require('kafkajs/src/protocol/encoder') as new () => {
      writeBuffer(b: Buffer): unknown;
      buffer: Buffer;
    };
    const encoded = new Encoder();
    encoded.writeBuffer(body);
    const expected = await original({
      correlationId: 123_456,
      clientId,
      request: { ...request, encode: () => Promise.resolve(encoded) },
    });
    expect(ours.buffer.equals(expected.buffer)).toBe(true);
  });
});
