// The shared JSON check (plain values, depth, __proto__) and the canonical text behind request hashes.
import fc from 'fast-check';
import t from 'tap';
import { canonicalJson, jsonDepthMax, jsonProblem } from '../../src/jobs/json.js';

t.test('plain JSON values pass', async (t) => {
  for (const value of [null, 0, -1.5, 'x', true, [], {}, { a: [1, { b: null }] }, Object.create(null) as object]) {
    t.equal(jsonProblem(value), null, JSON.stringify(value));
  }
});

t.test('what JSON cannot hold is named with its path', async (t) => {
  t.equal(jsonProblem({ a: [1, NaN] }), 'a[1] is not a finite number');
  t.equal(jsonProblem({ a: Infinity }), 'a is not a finite number');
  t.equal(jsonProblem(undefined), 'the value is a undefined, not JSON');
  t.equal(jsonProblem({ f: () => 1 }), 'f is a function, not JSON');
  t.equal(jsonProblem({ n: 1n }), 'n is a bigint, not JSON');
  t.equal(jsonProblem({ d: new Date(0) }), 'd is not a plain object');
  t.equal(jsonProblem([new Uint8Array(1)]), '[0] is not a plain object');
  t.equal(jsonProblem(JSON.parse('{"x": {"__proto__": 1}}')), 'x has the key __proto__');
});

t.test('nesting up to the limit passes; one level more does not', async (t) => {
  const nest = (levels: number): unknown => {
    let v: unknown = 1;
    for (let i = 0; i < levels; i++) v = [v];
    return v;
  };
  t.equal(jsonProblem(nest(jsonDepthMax)), null);
  t.match(jsonProblem(nest(jsonDepthMax + 1)), /nests deeper than 64 levels/);
  t.match(jsonProblem(nest(100_000)), /nests deeper/, 'no recursion, so no stack overflow');
  t.equal(jsonProblem(nest(3), 3), null);
  t.match(jsonProblem(nest(4), 3), /deeper than 3/);
});

t.test('canonical JSON sorts keys at every level and keeps array order', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'é' } }), '{"a":{"c":"é","d":[3,{"y":2,"z":1}]},"b":1}');
  t.equal(canonicalJson({ a: undefined }), '{"a":null}');
  t.equal(canonicalJson([]), '[]');
  t.equal(canonicalJson('q"'), '"q\\""');
  t.equal(canonicalJson({ 'b': 1, 'B': 2, 'a': 3 }), '{"B":2,"a":3,"b":1}', 'by UTF-16 code unit, as any language sorts bytes of ASCII');
});

/** The canonical text as first written (map and join over sorted entries): stored request hashes were made so. */
function referenceCanonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item: unknown) => referenceCanonicalJson(item)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${referenceCanonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

t.test('canonical JSON is the same text as its first form, so stored request hashes still match', async () => {
  const keyish = fc.oneof(fc.string(), fc.constantFrom('a', 'B', 'b', 'é', 'Z', '10', '9', '', ' ', '\u{1F600}', '\uFFFF'));
  const value = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: 'small' },
      fc.jsonValue({ maxDepth: 1 }), fc.constantFrom(undefined, -0, 1e21, 5e-324),
      fc.array(tie('node'), { maxLength: 5 }), fc.dictionary(keyish, tie('node'), { maxKeys: 6 })),
  })).node;
  fc.assert(fc.property(value, (v) => {
    const got = canonicalJson(v);
    const want = referenceCanonicalJson(v);
    if (got !== want) throw new Error(`${got} !== ${want}`);
  }), { numRuns: 3000 });
});
