// Parses the Jepsen etcd register histories (shared/testdata/jepsen-etcd) into operations for the linearizability checker.
import type { Operation, RegisterInput, RegisterOutput } from './linearizability.js';

export type RegisterOperation = Operation<RegisterInput, RegisterOutput>;

/** `INFO  jepsen.util - <process>\t:<type>\t:<f>\t<value>`; any other line is log noise. */
const eventLine = /^INFO\s+jepsen\.util - (\d+)\t:(invoke|ok|fail|info)\t:(read|write|cas)\t(.*?)\s*$/;

interface Pending {
  readonly input: RegisterInput;
  readonly call: number;
}

/** Times are 1-based line numbers, since line order is the real-time order of the events. */
export function parseJepsenHistory(text: string): RegisterOperation[] {
  const pending = new Map<number, Pending>();
  const ops: RegisterOperation[] = [];
  text.split('\n').forEach((line, index) => {
    const match = eventLine.exec(line);
    if (match === null) return;
    const [, processText, type, f, value] = match as unknown as [string, string, string, string, string];
    const client = Number(processText);
    const lineNumber = index + 1;
    const where = `line ${lineNumber}`;
    if (type === 'invoke') {
      if (pending.has(client)) throw new Error(`${where}: process ${client} invokes while an operation is open`);
      pending.set(client, { input: parseInput(f, value, where), call: lineNumber });
      return;
    }
    const started = pending.get(client);
    if (started === undefined) throw new Error(`${where}: process ${client} completes an operation it never invoked`);
    if (started.input.f !== f) throw new Error(`${where}: process ${client} invoked ${started.input.f} but completes ${f}`);
    pending.delete(client);
    const op = completeOperation(client, started, type, value, lineNumber, where);
    if (op !== null) ops.push(op);
  });
  // An operation that never ended is as unknown as an :info one.
  for (const [client, started] of pending) ops.push({ client, ...started, output: undefined, ret: Infinity });
  return ops.sort((a, b) => a.call - b.call);
}

function completeOperation(
  client: number,
  started: Pending,
  type: string,
  value: string,
  ret: number,
  where: string,
): RegisterOperation | null {
  const { input, call } = started;
  switch (type) {
    case 'ok':
      return { client, input, call, ret, output: input.f === 'read' ? { value: parseValue(value, where) } : { ok: true } };
    case 'fail':
      // A failed read (timed out) returned nothing and changed nothing: it constrains no linearization, so drop it.
      return input.f === 'read' ? null : { client, input, call, ret, output: { ok: false } };
    case 'info':
      return { client, input, call, ret: Infinity, output: undefined };
    default:
      throw new Error(`${where}: unexpected event type ${type}`);
  }
}

function parseInput(f: string, value: string, where: string): RegisterInput {
  switch (f) {
    case 'read':
      return { f: 'read' };
    case 'write':
      return { f: 'write', v: parseNumber(value, where) };
    case 'cas': {
      const pair = /^\[(-?\d+) (-?\d+)\]$/.exec(value);
      if (pair === null) throw new Error(`${where}: cas needs [from to], got ${JSON.stringify(value)}`);
      return { f: 'cas', from: Number(pair[1]), to: Number(pair[2]) };
    }
    default:
      throw new Error(`${where}: unknown function ${f}`);
  }
}

function parseValue(value: string, where: string): number | null {
  return value === 'nil' ? null : parseNumber(value, where);
}

function parseNumber(value: string, where: string): number {
  if (!/^-?\d+$/.test(value)) throw new Error(`${where}: expected an integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** VERDICTS: `<file> <true|false>` per line, `#` comments; true means linearizable. */
export function parseVerdicts(text: string): Map<string, boolean> {
  const verdicts = new Map<string, boolean>();
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [file, verdict, ...rest] = trimmed.split(/\s+/);
    if (file === undefined || (verdict !== 'true' && verdict !== 'false') || rest.length > 0) {
      throw new Error(`VERDICTS: cannot parse ${JSON.stringify(line)}`);
    }
    verdicts.set(file, verdict === 'true');
  }
  return verdicts;
}
