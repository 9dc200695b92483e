import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { JsonlError, parseJsonl } from '../src/util/jsonl.js';

const Pair = z.strictObject({ prompt: z.string(), response: z.string() });
const parse = (text: string | Uint8Array) => parseJsonl(typeof text === 'string' ? Buffer.from(text, 'utf8') : text, 'in.jsonl', Pair);
const fails = (text: string | Uint8Array, re: RegExp) => assert.throws(() => parse(text), (e: unknown) => e instanceof JsonlError && re.test(e.message));

test('jsonl: a BOM, CRLF and blank lines are accepted; line numbers count every line', () => {
  const rows = parse('\uFEFF{"prompt":"a","response":"b"}\r\n\r\n  \n{"prompt":"c","response":"d\\r"}\r\n');
  assert.deepEqual(rows, [
    { line: 1, value: { prompt: 'a', response: 'b' } },
    { line: 4, value: { prompt: 'c', response: 'd\r' } },
  ]);
  assert.deepEqual(parse(''), []);
  assert.deepEqual(parse('{"prompt":"a","response":"b"}'), [{ line: 1, value: { prompt: 'a', response: 'b' } }], 'no final newline');
});

test('jsonl: invalid UTF-8 is an error naming the line, never a silent U+FFFD', () => {
  const bytes = Buffer.concat([Buffer.from('{"prompt":"a","response":"b"}\n{"prompt":"a","response":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]);
  fails(bytes, /^in\.jsonl:2: invalid UTF-8 \(byte 0xff at column 27\)/);
});

test('jsonl: bad JSON, wrong types and unknown fields are named with file, line and field', () => {
  fails('{"prompt":"a","response":"b"}\n{"prompt":"a",', /^in\.jsonl:2: not valid JSON/);
  fails('{"prompt":"a","response":3}', /^in\.jsonl:1: field 'response': .*expected string/);
  fails('{"prompt":"a","response":"b","score":1,"id":2}', /^in\.jsonl:1: unknown fields 'score', 'id'/);
  fails('[1]', /^in\.jsonl:1: expected an object/);
  // a union names the alternative the line comes closest to
  const Either = z.union([Pair, z.strictObject({ prompt_ids: z.array(z.int()), response_ids: z.array(z.int()) })]);
  assert.throws(() => parseJsonl(Buffer.from('{"prompt_ids":[1],"response_ids":[2],"x":1}'), 'u.jsonl', Either), /^JsonlError: u\.jsonl:1: unknown field 'x'/);
});
