// Command codec: every command round-trips exactly; garbage, truncated or half-valid bytes throw CommandDecodeError only.
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import t from 'tap';
import { CommandDecodeError, decodeCommand, encodeCommand } from '../../src/jobs/codec.js';
import type { Command } from '../../src/jobs/commands.js';
import { normalizeCreate, requestHashOf } from '../../src/jobs/job.js';

const nowMs = Date.parse('2026-06-01T12:00:00Z');
const options = { nowMs, maxPayloadBytes: 65_536, denyPrivateWebhooks: false };
const body = {
  id: 'job:1', type: 'recurrente', cron_expression: '0 9 * * *', timezone: 'Europe/Madrid', last_date: '2027-01-01T00:00:00Z',
  webhook_url: 'https://example.com/hook', headers: { 'X-A': '1' }, payload: { n: [1, 2.5, -3, null, true, 'é'], o: {} },
  retry: { max_attempts: 5, max_duration_ms: 60_000, non_retryable_statuses: [400] }, max_runs: 9, signing_secret: 's',
  tags: { team: 'core' },
};
const spec = normalizeCreate(body, options);
const unicoSpec = normalizeCreate({ id: 'u', type: 'unico', timestamp: 1_900_000_000 }, options);
const requestHash = requestHashOf(body);

const commands: Command[] = [
  { type: 'create_jobs', proposedAtMs: nowMs, tenant: 'default', jobs: [{ spec, requestHash }, { spec: unicoSpec, requestHash }], maxJobs: 1000 },
  { type: 'create_jobs', proposedAtMs: nowMs, tenant: 'default', jobs: [], maxJobs: 0 },
  {
    type: 'update_job', proposedAtMs: nowMs + 1, tenant: 'acme', id: spec.id, patch: { payload: 'text', paused: true },
    maxPayloadBytes: 65_536, denyPrivateWebhooks: false,
  },
  { type: 'delete_job', proposedAtMs: nowMs + 2, tenant: 'default', id: 'job:1' },
  { type: 'pause_job', proposedAtMs: nowMs + 3, tenant: 'default', id: 'job:1' },
  { type: 'resume_job', proposedAtMs: nowMs + 4, tenant: 'default', id: 'job:1' },
  { type: 'cancel_job', proposedAtMs: 0, tenant: 'default', id: 'job:1' },
];

function decodeFailure(bytes: Uint8Array): string {
  try {
    decodeCommand(bytes);
  } catch (err) {
    if (err instanceof CommandDecodeError) return err.message;
    throw err;
  }
  throw new Error('expected a CommandDecodeError');
}

// An independent writer, to craft bytes the codec's own encoder would refuse to write.
const writer = new Packr({ useRecords: false });

t.test('every command decodes to exactly what was encoded', async (t) => {
  for (const command of commands) t.strictSame(decodeCommand(encodeCommand(command)), command, command.type);
});

t.test('the encoding is plain MessagePack: maps with named keys, no records', async (t) => {
  const bytes = encodeCommand(commands[3]!);
  t.strictSame(new Packr({ useRecords: false }).unpack(bytes), commands[3]);
  t.strictSame([...bytes.subarray(0, 3)], [0xde, 0, 4], 'a map16 of 4 entries');
  t.ok(Buffer.from(bytes).includes(Buffer.from('proposedAtMs')), 'keys are written out');
});

/** A create's jobs as rows, written here by hand in the documented order: the format the log holds since format 2. */
function rowOf(entry: { spec: Record<string, unknown>; requestHash: unknown }): unknown[] {
  const s = entry.spec;
  const retry = s['retry'];
  const r = (typeof retry === 'object' && retry !== null ? retry : {}) as Record<string, unknown>;
  return [
    s['id'], s['type'], s['startAtMs'], s['cronExpression'], s['intervalMs'], s['timezone'], s['lastDateAtMs'], s['webhookUrl'],
    s['method'], s['headers'], s['payload'], s['delivery'],
    typeof retry === 'object' && retry !== null
      ? [r['maxAttempts'], r['backoffMs'], r['maxBackoffMs'], r['maxDurationMs'], r['nonRetryableStatuses']]
      : retry,
    s['timeoutMs'], s['catchup'], s['catchupWindowMs'], s['overlap'], s['maxRuns'], s['jitterMs'], s['pauseAfterFailures'],
    s['signingSecret'], s['paused'], s['tags'], entry.requestHash,
  ];
}

function rowsWire(command: { jobs: readonly { spec: unknown; requestHash: unknown }[] } & Record<string, unknown>): Record<string, unknown> {
  const { jobs, ...rest } = command;
  return { ...rest, rows: jobs.map((j) => rowOf(j as { spec: Record<string, unknown>; requestHash: unknown })) };
}

t.test('a create is written as rows in the documented order, in about half the bytes of maps', async (t) => {
  const create = commands[0] as Extract<Command, { type: 'create_jobs' }>;
  const bytes = encodeCommand(create);
  const read = new Packr({ useRecords: false }).unpack(bytes) as Record<string, unknown>;
  t.strictSame(Object.keys(read).sort(), ['maxJobs', 'proposedAtMs', 'rows', 'tenant', 'type']);
  t.strictSame(read, rowsWire(create as unknown as Parameters<typeof rowsWire>[0]), 'rows, field for field');
  const asMaps = writer.pack(create);
  t.ok(bytes.length < asMaps.length * 0.7, `${bytes.length} bytes as rows, ${asMaps.length} as maps`);
});

t.test('a create written as maps, as before format 2, still decodes to the same command', async (t) => {
  for (const command of commands.filter((c) => c.type === 'create_jobs')) {
    t.strictSame(decodeCommand(writer.pack(command)), command);
  }
});

t.test('a create row admits exactly what the map form admits', async () => {
  // Each case changes one field of a valid spec, or the hash, to a value either form may refuse; both must agree.
  const create = commands[0] as Extract<Command, { type: 'create_jobs' }>;
  const base = create.jobs[0]! as unknown as { spec: Record<string, unknown>; requestHash: unknown };
  const fields = [...Object.keys(base.spec), 'retry.maxAttempts', 'retry.maxDurationMs', 'retry.nonRetryableStatuses', 'requestHash'];
  const oddValue = fc.oneof(
    fc.constantFrom(null, undefined, true, 0, -1, 1.5, 2 ** 60, '', 'x', 'unico', 'POST', 'skip', 'at_most_once', 'UTC',
      'a'.repeat(64), 'A'.repeat(64), {}, [], [1], { a: 'b' }, { a: 1 }),
    fc.anything({ maxDepth: 2 }),
  );
  const accepts = (value: unknown): boolean => {
    try {
      decodeCommand(writer.pack(value));
      return true;
    } catch (err) {
      if (err instanceof CommandDecodeError) return false;
      throw err;
    }
  };
  fc.assert(fc.property(fc.constantFrom(...fields), oddValue, (field, value) => {
    const entry: { spec: Record<string, unknown>; requestHash: unknown } = {
      spec: { ...base.spec, retry: { ...(base.spec['retry'] as object) } }, requestHash: base.requestHash,
    };
    if (field === 'requestHash') entry.requestHash = value;
    else if (field.startsWith('retry.')) (entry.spec['retry'] as Record<string, unknown>)[field.slice(6)] = value;
    else entry.spec[field] = value;
    const maps = { ...create, jobs: [entry] };
    const viaMaps = accepts(maps);
    const viaRows = accepts(rowsWire(maps));
    if (viaMaps !== viaRows) throw new Error(`${field} = ${JSON.stringify(value)}: maps ${viaMaps}, rows ${viaRows}`);
  }), { numRuns: 3000 });
});

t.test('a create row of the wrong shape is refused', async (t) => {
  const create = commands[0] as Extract<Command, { type: 'create_jobs' }>;
  const wire = rowsWire(create as unknown as Parameters<typeof rowsWire>[0]);
  const row = (wire['rows'] as unknown[][])[0]!;
  const cases: [unknown, RegExp][] = [
    [{ ...wire, rows: [row.slice(0, -1)] }, /create_jobs: \/rows\/0/],
    [{ ...wire, rows: [[...row, 'extra']] }, /create_jobs: \/rows\/0/],
    [{ ...wire, rows: [row.map((v, i) => (i === 0 ? 'bad id' : v))] }, /\/rows\/0\/0/],
    [{ ...wire, rows: [row.map((v, i) => (i === 12 ? [1, 0, 0, null] : v))] }, /\/rows\/0\/12/],
    [{ ...wire, rows: [row.map((v, i) => (i === 23 ? 'F'.repeat(64) : v))] }, /\/rows\/0\/23/],
    [{ ...wire, rows: [row.map((v, i) => (i === 10 ? { x: Number.NaN } : v))] }, /spec 0 payload: x is not a finite number/],
    [{ ...wire, jobs: create.jobs }, /create_jobs: \/jobs/],
    [{ ...wire, rows: {} }, /\/rows/],
  ];
  for (const [value, message] of cases) {
    t.match(decodeFailure(writer.pack(value)), message, JSON.stringify(value)?.slice(0, 80));
  }
});

t.test('a CommandDecodeError carries the code corrupt_command', async (t) => {
  const err = new CommandDecodeError('x');
  t.equal(err.code, 'corrupt_command');
  t.equal(err.name, 'CommandDecodeError');
  t.ok(err instanceof Error);
});

t.test('empty, truncated and padded bytes are refused', async (t) => {
  t.match(decodeFailure(new Uint8Array()), /not MessagePack/);
  for (const command of commands) {
    const bytes = encodeCommand(command);
    for (const cut of [1, Math.floor(bytes.length / 2), bytes.length - 1]) {
      t.match(decodeFailure(bytes.subarray(0, cut)), /not (MessagePack|a command)/, `${command.type} cut at ${cut}`);
    }
    t.match(decodeFailure(Buffer.concat([bytes, Buffer.from([0])])), /not MessagePack/, `${command.type} with a trailing byte`);
  }
});

t.test('well-formed MessagePack that is not a command is refused', async (t) => {
  const good = commands[0] as Extract<Command, { type: 'create_jobs' }>;
  const firstSpec = good.jobs[0]!.spec;
  const cases: [unknown, RegExp][] = [
    [null, /not a map/],
    [[1, 2], /not a map/],
    [42, /not a map/],
    [{ type: 'drop_table', proposedAtMs: 1, tenant: 'd' }, /unknown command type "drop_table"/],
    [{ proposedAtMs: 1 }, /unknown command type undefined/],
    [{ type: '__proto__' }, /unknown command type/],
    [{ type: 'delete_job', proposedAtMs: 1, tenant: 'd' }, /delete_job: \/id/],
    [{ type: 'delete_job', proposedAtMs: 1, tenant: 'd', id: 'x', extra: 1 }, /delete_job: \/extra/],
    [{ type: 'delete_job', proposedAtMs: -1, tenant: 'd', id: 'x' }, /proposedAtMs/],
    [{ type: 'delete_job', proposedAtMs: 1.5, tenant: 'd', id: 'x' }, /proposedAtMs/],
    [{ type: 'delete_job', proposedAtMs: 1, tenant: 'd', id: 'bad id' }, /\/id/],
    [{ type: 'delete_job', proposedAtMs: 1, tenant: '', id: 'x' }, /\/tenant/],
    [{ ...good, jobs: [{ spec: firstSpec, requestHash: 'nothex' }] }, /requestHash/],
    [{ ...good, jobs: [{ spec: { ...firstSpec, timezone: undefined } }] }, /create_jobs/],
    [{ ...good, jobs: [{ spec: { ...firstSpec, retry: { ...firstSpec.retry, maxAttempts: 0 } }, requestHash }] }, /maxAttempts/],
    [{ ...good, jobs: [{ spec: { ...firstSpec, type: 'sometimes' }, requestHash }] }, /\/type/],
    [{ ...good, jobs: [{ spec: { ...firstSpec, headers: { a: 1 } }, requestHash }] }, /headers/],
    [{ ...good, jobs: [{ spec: { ...firstSpec, startAtMs: 2 ** 60 }, requestHash }] }, /startAtMs/],
    [{ ...good, jobs: [{ spec: { ...firstSpec, payload: new Date(0) }, requestHash }] }, /payload/],
    [{ ...good, jobs: [{ spec: { ...firstSpec, payload: { when: new Date(0) } }, requestHash }] }, /payload: when is not a plain object/],
    [{ ...good, jobs: [{ spec: { ...firstSpec, extra: true }, requestHash }] }, /extra/],
  ];
  for (const [value, message] of cases) {
    t.match(decodeFailure(writer.pack(value)), message, JSON.stringify(value)?.slice(0, 80));
  }
  t.match(decodeFailure(Buffer.from('d40000', 'hex')), /not a map/, 'an undefined');
  t.match(decodeFailure(Buffer.from('d6ff00000001', 'hex')), /not a map/, 'a timestamp extension');
  t.match(decodeFailure(Buffer.from('c1', 'hex')), /not a map/, 'the never-used byte');
});

t.test('a payload with a non-finite number or a nested extension type is refused', async (t) => {
  const good = commands[2] as Extract<Command, { type: 'update_job' }>;
  t.match(decodeFailure(writer.pack({ ...good, patch: { payload: { x: NaN } } })), /patch: .*x is not a finite number/);
  t.match(decodeFailure(writer.pack({ ...good, patch: { payload: [new Uint8Array(2)] } })), /patch/);
  const create = commands[0] as Extract<Command, { type: 'create_jobs' }>;
  const first = create.jobs[0] as (typeof create.jobs)[number];
  t.match(decodeFailure(writer.pack({ ...create, jobs: [{ ...first, spec: { ...first.spec, payload: { x: NaN } } }] })),
    /payload: x is not a finite number/);
});

t.test('encoding refuses a command that would not decode, so it never reaches the log', async (t) => {
  const bad = { type: 'delete_job', proposedAtMs: 1, tenant: 'default', id: 'has space' } as Command;
  t.throws(() => encodeCommand(bad), { name: 'AssertionError' });
  const deepPayload = { ...(commands[2] as Extract<Command, { type: 'update_job' }>) };
  let deep: unknown = 1;
  for (let i = 0; i < 100; i++) deep = [deep];
  t.throws(() => encodeCommand({ ...deepPayload, patch: { payload: deep } }), { name: 'AssertionError' });
});

t.test('arbitrary bytes never throw anything but CommandDecodeError', async () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    try {
      decodeCommand(bytes);
    } catch (err) {
      if (!(err instanceof CommandDecodeError)) throw err;
    }
  }), { numRuns: 2000 });
});

t.test('a valid command with flipped bytes decodes to a valid command or throws CommandDecodeError', async () => {
  const encoded = commands.map((c) => encodeCommand(c));
  fc.assert(fc.property(
    fc.nat({ max: encoded.length - 1 }), fc.nat(), fc.integer({ min: 0, max: 255 }),
    (which, position, byte) => {
      const bytes = Uint8Array.from(encoded[which]!);
      bytes[position % bytes.length] = byte;
      try {
        const command = decodeCommand(bytes);
        // What decodes must encode again: it passed the same checks.
        encodeCommand(command);
      } catch (err) {
        if (!(err instanceof CommandDecodeError)) throw err;
      }
    },
  ), { numRuns: 3000 });
});

t.test('arbitrary JSON payloads round-trip unchanged', async () => {
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), (payload) => {
    // JSON text has no -0 and no __proto__ key; the normalizer copies payloads through JSON the same way.
    if (JSON.stringify(payload).includes('"__proto__"')) return;
    const plain = JSON.parse(JSON.stringify(payload)) as unknown;
    const command: Command = { ...(commands[2] as Extract<Command, { type: 'update_job' }>), patch: { payload: plain } };
    const decoded = decodeCommand(encodeCommand(command));
    if (JSON.stringify(decoded) !== JSON.stringify(command)) throw new Error(`changed: ${JSON.stringify(plain)}`);
  }), { numRuns: 500 });
});
