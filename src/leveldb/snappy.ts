// Snappy decompression, for the index and meta blocks of LevelDB tables (data blocks are checked, never unpacked).

export class SnappyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnappyError';
  }
}

/** The bytes `input` compresses; throws SnappyError on anything that is not a whole, well-formed snappy block. */
export function snappyUncompress(input: Uint8Array): Uint8Array {
  let at = 0;
  let length = 0;
  for (let shift = 0; ; shift += 7) {
    if (at >= input.length || shift > 28) throw new SnappyError('bad uncompressed length');
    const byte = input[at++]!;
    length += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
  }
  const out = new Uint8Array(length);
  let put = 0;
  while (at < input.length) {
    const tag = input[at++]!;
    if ((tag & 3) === 0) {
      let len = (tag >>> 2) + 1;
      if (len > 60) {
        const bytes = len - 60;
        if (at + bytes > input.length) throw new SnappyError('literal length cut short');
        len = 1;
        for (let i = 0; i < bytes; i++) len += input[at + i]! * 2 ** (8 * i);
        at += bytes;
      }
      if (at + len > input.length || put + len > length) throw new SnappyError('literal out of bounds');
      out.set(input.subarray(at, at + len), put);
      at += len;
      put += len;
      continue;
    }
    let len: number;
    let offset: number;
    if ((tag & 3) === 1) {
      if (at + 1 > input.length) throw new SnappyError('copy cut short');
      len = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | input[at]!;
      at += 1;
    } else if ((tag & 3) === 2) {
      if (at + 2 > input.length) throw new SnappyError('copy cut short');
      len = (tag >>> 2) + 1;
      offset = input[at]! | (input[at + 1]! << 8);
      at += 2;
    } else {
      if (at + 4 > input.length) throw new SnappyError('copy cut short');
      len = (tag >>> 2) + 1;
      offset = (input[at]! | (input[at + 1]! << 8) | (input[at + 2]! << 16) | (input[at + 3]! << 24)) >>> 0;
      at += 4;
    }
    if (offset === 0 || offset > put || put + len > length) throw new SnappyError('copy out of bounds');
    // Byte by byte: a copy may overlap what it writes (a run).
    for (let i = 0; i < len; i++, put++) out[put] = out[put - offset]!;
  }
  if (put !== length) throw new SnappyError(`${put} bytes where ${length} were announced`);
  return out;
}
