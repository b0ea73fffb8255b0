import test from 'ava';
import { crc32 } from 'node:zlib';
import { encodeRecord, parseJournal, type JournalRecord } from '../src/storage/journal.ts';
import { JournalCorruptError } from '../src/errors.ts';

const chain = (n: number) => n.toString(16).padStart(64, '0');
const records: JournalRecord[] = [
  { kind: 'commit', at: '2026-12-04T21:00:00.000Z', csvEnd: 120, chain: chain(1), agencies: { '1': { next: 3, stored: 3 } } },
  {
    kind: 'commit',
    at: '2026-12-04T21:00:00.000Z',
    csvEnd: 400,
    chain: chain(2),
    agencies: { '1': { next: 8, stored: 8 }, '2': { next: 5, stored: 4 } },
  },
  {
    kind: 'commit',
    at: '2026-12-04T21:00:00.000Z',
    csvEnd: 400,
    chain: chain(3),
    agencies: { '1': { next: 8, stored: 8 } },
    finished: { '1': { total: 8, digest: chain(9) } },
  },
  {
    kind: 'commit',
    at: '2026-12-04T21:00:00.000Z',
    csvEnd: 400,
    chain: chain(4),
    agencies: { '2': { next: 5, stored: 4 } },
    finished: { '2': { total: 5, digest: chain(10) } },
  },
  {
    kind: 'draw',
    winners: { '1': ['30904465', '111'], '2': [], '3': ['Núñez-free 12'] },
    chain: chain(4),
    head: chain(6),
    at: '2026-12-04T21:00:02.000Z',
  },
];

const encoded = (list: JournalRecord[]) => Buffer.from(list.map(encodeRecord).join(''));

test('a record is one line: the CRC-32 of its JSON in 8 hex digits, a space, the JSON', (t) => {
  const record: JournalRecord = { kind: 'draw', winners: { '1': [] }, chain: chain(5), head: chain(7), at: '2026-12-04T21:00:02.000Z' };
  const json = JSON.stringify(record);
  const line = encodeRecord(record);
  t.is(line, `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`);
  t.is(line.indexOf('\n'), line.length - 1);
});

test('records round-trip, with where each one starts', (t) => {
  const content = encoded(records);
  const replay = parseJournal(content);
  t.deepEqual(replay.records, records);
  t.is(replay.validLength, content.length);
  t.is(replay.cut, undefined);
  let at = 0;
  const starts = records.map((record) => {
    const start = at;
    at += Buffer.byteLength(encodeRecord(record));
    return start;
  });
  t.deepEqual(replay.starts, starts);
});

test('an empty journal has no records and nothing to cut', (t) => {
  t.deepEqual(parseJournal(Buffer.alloc(0)), { records: [], starts: [], validLength: 0 });
});

test('a last line cut short is cut: validLength points at its start', (t) => {
  const whole = encoded(records.slice(0, 4));
  const last = Buffer.from(encodeRecord(records[4]));
  // Every way the last record can be torn: from one byte to all but its newline.
  for (let keep = 1; keep < last.length; keep++) {
    const replay = parseJournal(Buffer.concat([whole, last.subarray(0, keep)]));
    t.deepEqual(replay.records, records.slice(0, 4));
    t.is(replay.validLength, whole.length);
    t.regex(replay.cut ?? '', /cut short/);
  }
});

test('a journal that is only a torn first record is cut to nothing', (t) => {
  const replay = parseJournal(Buffer.from(encodeRecord(records[0]).slice(0, 20)));
  t.deepEqual(replay.records, []);
  t.is(replay.validLength, 0);
  t.not(replay.cut, undefined);
});

test('a complete last line that fails its check is corruption, not a torn write: it throws rather than cut acknowledged bets', (t) => {
  const whole = encoded(records.slice(0, 2));
  const line = encodeRecord(records[2]);
  const badCrc = (line[0] === '0' ? '1' : '0') + line.slice(1);
  const changed = line.replace('"total":8', '"total":9');
  for (const last of [
    badCrc,
    changed,
    '\n',
    'hello world\n',
    '\0\0\0\0\0\0\0\0\0\0\n',
    '00000000 {}\n',
    `${crc32('null').toString(16).padStart(8, '0')} null\n`,
  ]) {
    const error = t.throws(
      () => parseJournal(Buffer.concat([whole, Buffer.from(last)])),
      { instanceOf: JournalCorruptError },
      JSON.stringify(last),
    );
    t.regex(error!.message, new RegExp(`byte ${whole.length}\\b.*the last record`));
  }
});

test('a corrupt line before the last throws JournalCorruptError', (t) => {
  const lines = records.map(encodeRecord);
  for (let i = 0; i < lines.length - 1; i++) {
    const damaged = [...lines];
    damaged[i] = damaged[i].replace(/"kind"/, '"kinb"');
    t.throws(() => parseJournal(Buffer.from(damaged.join(''))), { instanceOf: JournalCorruptError }, `line ${i}`);
  }
  // A torn line followed by more lines is damage too, not an interrupted write.
  const torn = lines[0].slice(0, 10) + '\n' + lines.slice(1).join('');
  t.throws(() => parseJournal(Buffer.from(torn)), { instanceOf: JournalCorruptError });
});

test('the corruption error says where the damaged record starts', (t) => {
  const lines = records.map(encodeRecord);
  const at = Buffer.byteLength(lines[0]);
  lines[1] = 'x' + lines[1].slice(1);
  const error = t.throws(() => parseJournal(Buffer.from(lines.join(''))), { instanceOf: JournalCorruptError });
  t.regex(error!.message, new RegExp(`byte ${at}\\b`));
});
