// JSON values: the shape check the normalizer and the codec share, and the canonical text the request hash reads.

/**
 * How deep a payload may nest. MessagePack encoding and decoding recurse, so a deeper value could pass the API
 * and then fail to decode on every node; 64 levels is far beyond any real payload.
 */
export const jsonDepthMax = 64;

/**
 * A UTF-16 surrogate without its pair. JSON text may spell one (`"\ud800"`), but MessagePack stores strings as
 * UTF-8, which turns it into U+FFFD: the value would read back changed, and two such keys would become one.
 */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why `value` is not a plain JSON value that survives a MessagePack round trip unchanged, or null when it is.
 * Objects must be plain, numbers finite, strings and keys well-formed Unicode, nesting at most `depthMax`, and no
 * key may be `__proto__` (msgpackr renames that key when decoding, so it would not read back as written). Walks
 * with its own stack, never recursion.
 */
export function jsonProblem(value: unknown, depthMax: number = jsonDepthMax): string | null {
  // Each step keeps its parent and key, not its path: the path is spelled only for a refusal, and this runs on
  // every payload a few times a create.
  const stack: Step[] = [{ value, depth: 0, parent: null, key: '' }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const v = next.value;
    if (typeof v === 'string') {
      if (loneSurrogate.test(v)) return `${where(next)} is not well-formed Unicode (a lone surrogate)`;
      continue;
    }
    if (v === null || typeof v === 'boolean') continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return `${where(next)} is not a finite number`;
      continue;
    }
    if (typeof v !== 'object') return `${where(next)} is a ${typeof v}, not JSON`;
    if (next.depth >= depthMax) return `${where(next)} nests deeper than ${depthMax} levels`;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push({ value: v[i], depth: next.depth + 1, parent: next, key: i });
      continue;
    }
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return `${where(next)} is not a plain object`;
    for (const key of Object.keys(v)) {
      if (key === '__proto__') return `${where(next)} has the key __proto__`;
      if (loneSurrogate.test(key)) return `${where(next)} has a key that is not well-formed Unicode (a lone surrogate)`;
      stack.push({ value: (v as Record<string, unknown>)[key], depth: next.depth + 1, parent: next, key });
    }
  }
  return null;
}

/** One value met by `jsonProblem`: under `parent` at `key` (an index in an array). */
interface Step {
  readonly value: unknown;
  readonly depth: number;
  readonly parent: Step | null;
  readonly key: string | number;
}

/** The step's path as `a.b[2].c`, or `the value` for the top. */
function where(step: Step): string {
  let path = '';
  for (let s: Step | null = step; s !== null && s.parent !== null; s = s.parent) {
    path = (typeof s.key === 'number' ? `[${s.key}]` : `.${s.key}`) + path;
  }
  return path === '' ? 'the value' : path.slice(path.startsWith('.') ? 1 : 0);
}

/**
 * The value as JSON text with every object's keys sorted, so two bodies that differ only in key order read the
 * same. The caller checks the value first (`jsonProblem`), so this recursion is bounded by `jsonDepthMax`.
 */
export function canonicalJson(value: unknown): string {
  // Loops and concatenation, not map/join over entries: it runs on every job of a batch, and the arrays and
  // pieces the other form made were a good part of the leader's garbage. The text is the same, byte for byte
  // (test/jobs/json.test.ts checks it against that form): request hashes already stored depend on it.
  if (value === null || typeof value !== 'object') {
    // JSON.stringify writes undefined as nothing; inside an object JSON.parse never produces it, so null stands in.
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i++) text += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${text}]`;
  }
  // The default sort orders by UTF-16 code unit, as `<` does.
  const keys = Object.keys(value).sort();
  let text = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    text += `${i === 0 ? '' : ','}${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`;
  }
  return `${text}}`;
}
