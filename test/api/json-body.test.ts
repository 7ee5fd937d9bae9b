// JSON bodies: what JSON.parse takes is the body; what it refuses, an empty body, and keys that could poison a
// prototype (however they are spelt) are refused with a message that says which.
import t from 'tap';
import fc from 'fast-check';
import { ApiError } from '../../src/api/errors.js';
import { parseJsonBody } from '../../src/api/json-body.js';

function refusal(text: string): string {
  try {
    parseJsonBody(text);
  } catch (err) {
    if (err instanceof ApiError && err.code === 'invalid_request') return err.message;
    throw err;
  }
  throw new Error(`${text} was taken`);
}

t.test('any JSON value reads as JSON.parse reads it', async (t) => {
  // Keys that poison are the one thing refused (below); fast-check draws __proto__ keys on purpose.
  const harmless = fc.jsonValue().filter((value) => !/__proto__|prototype/.test(JSON.stringify(value)));
  fc.assert(fc.property(harmless, (value) => {
    const text = JSON.stringify(value);
    t.same(parseJsonBody(text), JSON.parse(text));
  }), { numRuns: 300 });
  t.same(parseJsonBody('{"tags":{"constructor":"x"},"payload":{"constructor":{"name":"A"}}}'),
    { tags: { constructor: 'x' }, payload: { constructor: { name: 'A' } } }, 'a constructor key without a prototype is data');
  t.same(parseJsonBody('{"payload":"caf\\u00e9"}'), { payload: 'café' }, 'escapes are read');
});

t.test('an empty body, or one JSON.parse refuses, is refused with its reason and position', async (t) => {
  t.equal(refusal(''), 'the body is empty; it must be JSON');
  t.match(refusal('{"type": "unico",}'), /^the body is not valid JSON: .*position 17/);
  t.match(refusal('{"type": '), /^the body is not valid JSON: /);
  t.equal(refusal('\n\u0000\u2028'), 'the body is not valid JSON: Unexpected token \'\\u0000\', "\\u000a\\u0000\\u2028" is not valid JSON',
    'the characters V8 quotes from the body stay on one line');
});

t.test('a __proto__ key, or a constructor with a prototype, is refused by path, however spelt or deep', async (t) => {
  t.equal(refusal('{"type":"unico","__proto__":{"x":1}}'), "body.__proto__: a key that can poison an object's prototype is refused");
  t.equal(refusal('{"payload":[1,{"a":{"\\u005f_proto__":2}}]}'), "body.payload[1].a.__proto__: a key that can poison an object's prototype is refused");
  t.equal(refusal('{"headers":{"constructor":{"prototype":{"polluted":true}}}}'),
    "body.headers.constructor.prototype: a key that can poison an object's prototype is refused");
  const deep = `${'['.repeat(100_000)}{"__proto__":0}${']'.repeat(100_000)}`;
  t.match(refusal(deep), /__proto__: a key that can poison/, 'nesting deeper than the call stack');
});
