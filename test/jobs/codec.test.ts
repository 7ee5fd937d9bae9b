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
