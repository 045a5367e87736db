import { pastCommittedEnds } from '../../../../services/platform/src/events/dead-letter-reader';

describe('pastCommittedEnds', () => {
  const positions = (ends: [number, bigint][], lows: [number, bigint][]) => ({
    ends: new Map(ends),
    lows: new Map(lows),
  });

  it('names each partition holding records past its committed end, from that end to the high watermark', () => {
    const highs = new Map([
      [2, 30n],
      [0, 12n],
      [1, 7n],
    ]);
    expect(
      pastCommittedEnds(
        highs,
        positions(
          [
            [0, 10n],
            [1, 7n],
            [2, 25n],
          ],
          [
            [0, 0n],
            [1, 0n],
            [2, 0n],
          ],
        ),
      ),
    ).toEqual([
      { partition: 0, from: 10n, to: 12n },
      { partition: 2, from: 25n, to: 30n },
    ]);
  });

  it('starts from the first offset held where no letter is committed yet', () => {
    // Partition 0 holds only an open transaction's records (5 to 8); retention removed those before 5.
    expect(pastCommittedEnds(new Map([[0, 9n]]), positions([], [[0, 5n]]))).toEqual([
      { partition: 0, from: 5n, to: 9n },
    ]);
  });

  it('has nothing pending where the committed end read after the high watermark has reached or passed it', () => {
    // A transaction that committed, or letters written and committed, between the two reads.
    expect(
      pastCommittedEnds(
        new Map([
          [0, 10n],
          [1, 4n],
        ]),
        positions(
          [
            [0, 13n],
            [1, 4n],
          ],
          [
            [0, 0n],
            [1, 0n],
          ],
        ),
      ),
    ).toEqual([]);
  });

  it('has nothing pending for a partition it knows no offsets of', () => {
    expect(pastCommittedEnds(new Map([[3, 6n]]), positions([], []))).toEqual([]);
  });
});
