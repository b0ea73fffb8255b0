import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { betFromFields, todayUtc, validateBet, WINNING_NUMBER } from '../src/bets/bet.ts';
import type { WireBet } from '../src/wire/messages.ts';
import { InvalidBetError } from '../src/errors.ts';

const TODAY = '2026-06-15';
const good: WireBet = ['Santiago Lionel', 'Lorca', '30904465', '1999-03-17', 7574];

/** The same bet as the five text fields of a CSV row. */
const fieldsOf = (bet: readonly unknown[]) => bet.map(String);

function refuses(t: ExecutionContext, run: () => unknown, field: string, label = ''): void {
  const error = t.throws(run, { instanceOf: InvalidBetError }, label);
  t.is(error?.field, field, `${label}: ${error?.message}`);
}

/** The bet with one field replaced. */
function withField(index: number, value: unknown): unknown[] {
  const bet: unknown[] = [...good];
  bet[index] = value;
  return bet;
}

test('accepts a good bet and returns it unchanged', (t) => {
  t.deepEqual(validateBet(good, TODAY), good);
  t.deepEqual(betFromFields(fieldsOf(good), TODAY), good);
});

test('accepts names with accents, apostrophes, commas and quotes', (t) => {
  for (const [first, last] of [
    ['María José', 'Núñez'],
    ['Zoë', "O'Connor"],
    ['Juan, Jr.', 'Pérez, de la Torre'],
    ['Ana "Anita"', 'García Márquez'],
    ['Ñandú', 'Ibáñez'],
  ]) {
    const bet: WireBet = [first, last, '1', '1980-01-01', 1];
    t.deepEqual(validateBet(bet, TODAY), bet);
    t.deepEqual(betFromFields(fieldsOf(bet), TODAY), bet);
  }
});

test('accepts the leap day 2000-02-29 and a birthdate of today', (t) => {
  t.deepEqual(validateBet(withField(3, '2000-02-29'), TODAY)[3], '2000-02-29');
  t.deepEqual(betFromFields(fieldsOf(withField(3, '2000-02-29')), TODAY)[3], '2000-02-29');
  t.deepEqual(validateBet(withField(3, '2024-02-29'), TODAY)[3], '2024-02-29');
  t.deepEqual(validateBet(withField(3, TODAY), TODAY)[3], TODAY);
});

test('accepts the numbers 0 and 9999', (t) => {
  for (const number of [0, 9999]) {
    t.is(validateBet(withField(4, number), TODAY)[4], number);
    t.is(betFromFields(fieldsOf(withField(4, number)), TODAY)[4], number);
  }
});

test('accepts a document of 1 and of 16 digits', (t) => {
  for (const document of ['0', '1234567890123456']) {
    t.is(validateBet(withField(2, document), TODAY)[2], document);
    t.is(betFromFields(fieldsOf(withField(2, document)), TODAY)[2], document);
  }
});

test('accepts names of exactly 100 UTF-8 bytes', (t) => {
  for (const name of ['a'.repeat(100), 'ñ'.repeat(50), 'ab'.repeat(25) + 'ñ'.repeat(25)]) {
    t.is(Buffer.byteLength(name), 100);
    t.is(validateBet(withField(0, name), TODAY)[0], name);
    t.is(betFromFields(fieldsOf(withField(1, name)), TODAY)[1], name);
  }
});

for (const [index, field] of [
  [0, 'first_name'],
  [1, 'last_name'],
] as const) {
  test(`refuses an empty or whitespace-only ${field}`, (t) => {
    for (const name of ['', ' ', '   ', '\u00a0']) {
      refuses(t, () => validateBet(withField(index, name), TODAY), field, JSON.stringify(name));
      refuses(t, () => betFromFields(fieldsOf(withField(index, name)), TODAY), field, JSON.stringify(name));
    }
  });

  test(`refuses a ${field} with control characters`, (t) => {
    for (const name of ['Ana\nMaría', 'Ana\r', '\tAna', 'Ana\r\nPaz', 'A\u0000na', 'A\u007fna', 'A\u001bna']) {
      refuses(t, () => validateBet(withField(index, name), TODAY), field, JSON.stringify(name));
      refuses(t, () => betFromFields(fieldsOf(withField(index, name)), TODAY), field, JSON.stringify(name));
    }
  });

  test(`refuses a ${field} with C1 controls, bidi controls, line separators or U+FFFD, naming the character`, (t) => {
    const cases: Array<[string, RegExp]> = [
      ['Ana\u0085', /a control character: U\+0085 at character 4/],
      ['A\u009bna', /a control character: U\+009B/],
      ['Ana\u202eaíraM', /a bidirectional control: U\+202E/],
      ...['\u202a', '\u202b', '\u202c', '\u202d', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c'].map(
        (c): [string, RegExp] => [`Ana${c}Paz`, /a bidirectional control/],
      ),
      ['Ana\u2028Paz', /a line or paragraph separator: U\+2028/],
      ['Ana\u2029', /a line or paragraph separator: U\+2029/],
      ['Ana\ufffd', /bytes that are not valid UTF-8: U\+FFFD/],
      ['Ana\ud800', /bytes that are not valid UTF-8: U\+D800/],
    ];
    for (const [name, reason] of cases) {
      for (const run of [() => validateBet(withField(index, name), TODAY), () => betFromFields(fieldsOf(withField(index, name)), TODAY)]) {
        refuses(t, run, field, JSON.stringify(name));
        const error = t.throws(run);
        t.regex(error!.message, new RegExp(`^${field} must not contain`));
        t.regex(error!.message, reason);
        // The excerpt in the message shows the character escaped, never as itself.
        t.false(/[\u0080-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufffd]/u.test(error!.message), error!.message);
      }
    }
  });

  test(`refuses a ${field} that is blank once zero-width characters are removed`, (t) => {
    for (const name of [
      '\u200b',
      '\u200b\u200c\u200d',
      ' \u2060 ',
      '\ufeff\u200b',
      '\u00ad',
      '\u3164',
      '\u2800\u2800',
      '\u{e0041}\u{e0042}',
      '\u0301',
      ' \u0301\u0308 ',
      '\ufe0f',
      '\uffa0',
    ]) {
      refuses(t, () => validateBet(withField(index, name), TODAY), field, JSON.stringify(name));
      refuses(t, () => betFromFields(fieldsOf(withField(index, name)), TODAY), field, JSON.stringify(name));
    }
    t.is(validateBet(withField(index, 'A\u200bna'), TODAY)[index], 'A\u200bna');
    // Beside a visible letter they are a name like any other: a soft hyphen, a combining accent.
    t.is(validateBet(withField(index, 'Ma\u00adria'), TODAY)[index], 'Ma\u00adria');
    t.is(validateBet(withField(index, 'Jose\u0301'), TODAY)[index], 'Jose\u0301');
  });

  test(`refuses a ${field} that starts with =, +, - or @, and takes them inside a name`, (t) => {
    for (const name of ['=HYPERLINK("x")', '+54 11', '-2+3', '@SUM(A1)', ' =1+1', '\u00a0@x']) {
      const error = t.throws(() => validateBet(withField(index, name), TODAY), { instanceOf: InvalidBetError });
      t.is(error?.field, field);
      t.regex(error!.message, /must not start with =, \+, - or @/);
      refuses(t, () => betFromFields(fieldsOf(withField(index, name)), TODAY), field, JSON.stringify(name));
    }
    for (const name of ['Jean-Pierre', 'A+B', 'ana@example', 'Ana = Paz', 'O’Connor'])
      t.is(validateBet(withField(index, name), TODAY)[index], name);
  });

  test(`a refused ${field} of any size or shape is described in a bounded message`, (t) => {
    const nested: unknown[] = [];
    let inner = nested;
    for (let i = 0; i < 1000; i++) inner.push((inner = []));
    for (const value of [
      '\u0001'.repeat(5000),
      'x'.repeat(5000) + '\u202e',
      Array.from({ length: 5000 }, () => 'Ana'),
      nested,
      { a: 'x'.repeat(5000) },
    ]) {
      const error = t.throws(() => validateBet(withField(index, value), TODAY), { instanceOf: InvalidBetError });
      t.true(error!.message.length < 200, `${error!.message.length} characters: ${error!.message.slice(0, 300)}`);
    }
  });

  test(`a ${field} is taken exactly when it keeps the rules for names, whichever check judges it`, (t) => {
    // The rules as stated, to compare with: most names are judged by a scan
    // of their characters, the rest by regular expressions.
    const keepsTheRules = (name: string) =>
      name.trim() !== '' &&
      name
        .replace(
          /[\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200d\u2060-\u2064\u2800\u3164\ufe00-\ufe0f\uffa0\ufeff\u{e0000}-\u{e007f}]|\p{M}/gu,
          '',
        )
        .trim() !== '' &&
      !/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufffd]|\p{Cs}/u.test(name) &&
      !/^\s*[=+\-@]/u.test(name) &&
      Buffer.byteLength(name) <= 100;
    // The edges of the printable Latin-1 range, white space inside and outside it, and the rest.
    const unit = fc.constantFrom(
      ...['a', 'Z', '~', '"', ',', ' ', '\u00a0', '\u00a1', '\u00ad', 'ñ', '\u00ff', '\u0100', 'ő'],
      ...['\u001f', '\u007f', '\u009f', '\t', '\u0085', '=', '+', '-', '@', '\u1680', '\u3000', '\u200b', '\ufeff'],
      ...['\u2028', '\u202e', '\ufffd', '\ud800', '😀', '\u3164', '\u2800', '\u0301', '\u{e0041}'],
    );
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit, maxLength: 12 }), fc.string({ unit, minLength: 45, maxLength: 60 })), (name) => {
        const expected = keepsTheRules(name);
        for (const run of [
          () => validateBet(withField(index, name), TODAY),
          () => betFromFields(fieldsOf(withField(index, name)), TODAY),
        ]) {
          let taken: boolean;
          try {
            taken = run()[index] === name;
          } catch (error) {
            if (!(error instanceof InvalidBetError) || error.field !== field) throw error;
            taken = false;
          }
          if (taken !== expected) return false;
        }
        return true;
      }),
      { numRuns: 3000 },
    );
    t.pass();
  });

  test(`refuses a ${field} over 100 UTF-8 bytes`, (t) => {
    for (const name of ['a'.repeat(101), 'ñ'.repeat(51), 'a' + 'ñ'.repeat(50), '😀'.repeat(26)]) {
      t.true(Buffer.byteLength(name) > 100);
      refuses(t, () => validateBet(withField(index, name), TODAY), field, `${Buffer.byteLength(name)} bytes`);
      refuses(t, () => betFromFields(fieldsOf(withField(index, name)), TODAY), field, `${Buffer.byteLength(name)} bytes`);
    }
  });

  test(`refuses a ${field} that is not a string`, (t) => {
    for (const value of [undefined, null, 5, ['Ana'], {}])
      refuses(t, () => validateBet(withField(index, value), TODAY), field, String(value));
  });
}

test('refuses a document that is empty, has non-digits or more than 16 digits', (t) => {
  for (const document of ['', '12a4', ' 1234', '1234 ', '-123', '1.5', '１２３', '12345678901234567']) {
    refuses(t, () => validateBet(withField(2, document), TODAY), 'document', JSON.stringify(document));
    refuses(t, () => betFromFields(fieldsOf(withField(2, document)), TODAY), 'document', JSON.stringify(document));
  }
  refuses(t, () => validateBet(withField(2, 30904465), TODAY), 'document', 'a number');
});

test('refuses a birthdate that is not a real YYYY-MM-DD date', (t) => {
  for (const birthdate of [
    '2001-02-29',
    '1900-02-29',
    '0000-02-29',
    '0000-01-01',
    '2000-13-01',
    '2000-00-10',
    '2000-04-31',
    '2000-01-00',
    '2000-1-01',
    '2000-01-1',
    '01-01-2000',
    '2000/01/01',
    '',
    ' 2000-01-01',
    '2000-01-01T00:00',
  ]) {
    refuses(t, () => validateBet(withField(3, birthdate), TODAY), 'birthdate', birthdate);
    refuses(t, () => betFromFields(fieldsOf(withField(3, birthdate)), TODAY), 'birthdate', birthdate);
  }
  refuses(t, () => validateBet(withField(3, new Date(2000, 0, 1)), TODAY), 'birthdate', 'a Date');
});

test('a birthdate is taken exactly when it is YYYY-MM-DD in ASCII digits, a real date, not after today', (t) => {
  // The definition, written the plain way; the check reads character codes.
  const isBirthdate = (text: string) => {
    const match = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(text);
    if (match === null) return false;
    const [year, month, day] = match.slice(1).map(Number);
    const date = new Date(0);
    date.setUTCFullYear(year, month - 1, day);
    const real = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
    return real && text <= TODAY;
  };
  const near = fc.stringMatching(/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/);
  const hostile = fc.string({ unit: fc.constantFrom('0', '1', '2', '9', '-', '/', ' ', '\n', '٣', '０', 'a'), maxLength: 12 });
  fc.assert(
    fc.property(fc.oneof(near, hostile), (birthdate) => {
      const taken = (() => {
        try {
          validateBet(withField(3, birthdate), TODAY);
          return true;
        } catch (error) {
          if (!(error instanceof InvalidBetError) || error.field !== 'birthdate') throw error;
          return false;
        }
      })();
      return taken === isBirthdate(birthdate);
    }),
    { numRuns: 5000, seed: 20261202 },
  );
  t.pass();
});

test('refuses a birthdate after the today argument', (t) => {
  refuses(t, () => validateBet(withField(3, '2026-06-16'), TODAY), 'birthdate');
  refuses(t, () => betFromFields(fieldsOf(withField(3, '2027-01-01')), TODAY), 'birthdate');
  t.notThrows(() => validateBet(withField(3, '2026-06-16'), '2026-06-16'));
});

test('by default refuses a birthdate after today in UTC', (t) => {
  const tomorrow = todayUtc(new Date(Date.now() + 2 * 24 * 3600 * 1000));
  refuses(t, () => validateBet(withField(3, tomorrow)), 'birthdate');
  t.is(todayUtc(new Date(Date.UTC(2026, 10, 22, 23, 59))), '2026-11-22');
});

test('validateBet refuses a number below 0, above 9999, fractional, or not a number', (t) => {
  for (const number of [-1, 10000, 1.5, NaN, Infinity, '12', '7574', null, 12n]) {
    refuses(t, () => validateBet(withField(4, number), TODAY), 'number', String(number));
  }
});

test('betFromFields refuses a number that is not plain digits from 0 to 9999', (t) => {
  for (const number of ['-1', '10000', '1.5', '', ' 12', '12 ', '1e3', '0x10', '+5', '٣']) {
    refuses(t, () => betFromFields(fieldsOf(withField(4, number)), TODAY), 'number', JSON.stringify(number));
  }
  t.is(betFromFields(fieldsOf(withField(4, '0042')), TODAY)[4], 42);
});

test('refuses a bet with the wrong number of fields', (t) => {
  for (const fields of [good.slice(0, 4), [...good, 'extra'], [], good.slice(0, 1)]) {
    refuses(t, () => validateBet(fields, TODAY), 'bet', `${fields.length} fields`);
    refuses(t, () => betFromFields(fieldsOf(fields), TODAY), 'bet', `${fields.length} fields`);
  }
});

test('the error message says what is wrong with the field', (t) => {
  const error = t.throws(() => validateBet(withField(4, 10000), TODAY), { instanceOf: InvalidBetError });
  t.regex(error!.message, /number/);
  t.regex(error!.message, /10000/);
  t.is(error!.name, 'InvalidBetError');
});

test('the winning number is 7574 (the draw: test/winners-from-lines.test.ts)', (t) => {
  t.is(WINNING_NUMBER, 7574);
});
