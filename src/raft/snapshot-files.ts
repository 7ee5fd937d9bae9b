// The snapshot files of LevelStorage: the current snapshot's bytes, read synchronously, and the staging file of one being received.
import assert from 'node:assert/strict';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotChunk, SnapshotMeta } from './core/index.js';

/** How far a received snapshot has arrived (figure 13: chunks in offset order, the last one marked done). */
export interface Staged {
  readonly snapshot: SnapshotMeta;
  readonly bytes: number;
  readonly complete: boolean;
}

/** The staging area after `chunks`, asserting the order MemoryStorage asserts; pure, so a write can check before it touches disk. */
export function planStaging(staged: Staged | null, chunks: readonly SnapshotChunk[]): Staged | null {
  let at = staged;
  for (const chunk of chunks) {
    const from: Staged | null = chunk.offset === 0 ? { snapshot: chunk.snapshot, bytes: 0, complete: false } : at;
    assert.ok(from !== null && from.bytes === chunk.offset && !from.complete
      && from.snapshot.index === chunk.snapshot.index && from.snapshot.term === chunk.snapshot.term,
    `snapshot chunk at ${chunk.offset} out of order`);
    at = { snapshot: from.snapshot, bytes: from.bytes + chunk.data.byteLength, complete: chunk.done };
  }
  return at;
}

/** True when `staged` holds all of the snapshot `meta` names. */
export function isStaged(staged: Staged | null, meta: SnapshotMeta): boolean {
  return staged !== null && staged.complete && staged.snapshot.index === meta.index && staged.snapshot.term === meta.term;
}

const snapshotName = /^snap-(\d{16})-(\d{16})$/;
const stagingName = /^staging-\d+-\d+$/;

async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes all of `data` at `position`: a positional write, so a retried chunk lands where it belongs. */
async function writeAll(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.byteLength;) {
    const { bytesWritten } = await handle.write(data, done, data.byteLength - done, position + done);
    done += bytesWritten;
  }
}

/**
 * `<dir>` holds exactly the current snapshot file, `snap-<index>-<term>` (zero-padded so names sort by
 * index), and at most one staging file. Anything else of ours found at start is a leftover of a crash.
 */
export class SnapshotFiles {
  readonly dir: string;
  #staging: { staged: Staged; path: string; handle: FileHandle } | null = null;
  #reader: { path: string; fd: number; size: number } | null = null;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Opens `dir`, dropping staging files: the core restarts a transfer at offset 0 after a restart anyway. */
  static async open(dir: string): Promise<SnapshotFiles> {
    await mkdir(dir, { recursive: true });
    const files = new SnapshotFiles(dir);
    for (const name of await readdir(dir)) {
      if (stagingName.test(name)) await unlink(join(dir, name));
    }
    return files;
  }

  pathFor(index: number, term: number): string {
    return join(this.dir, `snap-${String(index).padStart(16, '0')}-${String(term).padStart(16, '0')}`);
  }

  /** The staging file's path, while a transfer is under way. */
  stagedPath(): string | null {
    return this.#staging?.path ?? null;
  }

  staged(): Staged | null {
    return this.#staging?.staged ?? null;
  }

  /** Appends received chunks to the staging file and fsyncs it; planStaging has checked their order. */
  async stage(chunks: readonly SnapshotChunk[]): Promise<void> {
    if (chunks.length === 0) return;
    for (const chunk of chunks) {
      if (chunk.offset === 0) await this.#startStaging(chunk.snapshot);
      const staging = this.#staging;
      assert.ok(staging !== null, `snapshot chunk at ${chunk.offset} out of order`);
      await writeAll(staging.handle, chunk.data, chunk.offset);
      staging.staged = { snapshot: staging.staged.snapshot, bytes: chunk.offset + chunk.data.byteLength, complete: chunk.done };
    }
    await this.#staging?.handle.sync();
  }

  /** Makes the complete staged file the snapshot file of `meta` (rename, then fsync the directory) and returns its path. */
  async promote(meta: SnapshotMeta): Promise<string> {
    const staging = this.#staging;
    assert.ok(staging !== null && isStaged(staging.staged, meta), `install of snapshot ${meta.index} that was not staged`);
    this.#staging = null;
    await staging.handle.close();
    const path = this.pathFor(meta.index, meta.term);
    await rename(staging.path, path);
    await syncPath(this.dir);
    return path;
  }

  /** The application wrote `path`; make sure it and its directory entry are on disk before the log behind it goes. */
  async makeDurable(path: string): Promise<void> {
    await syncPath(path);
    await syncPath(this.dir);
  }

  /** Serves `path` (null: the empty snapshot) from now on; opened again even for the same name, which may be a new file. */
  serve(path: string | null): void {
    const old = this.#reader;
    if (path === null) {
      this.#reader = null;
    } else {
      const fd = openSync(path, 'r');
      this.#reader = { path, fd, size: fstatSync(fd).size };
    }
    if (old !== null) closeSync(old.fd);
  }

  size(): number {
    return this.#reader?.size ?? 0;
  }

  /** Bytes [offset, offset + maxBytes) of the served snapshot, with MemoryStorage.snapshotChunk's semantics. */
  read(offset: number, maxBytes: number): { data: Uint8Array; done: boolean } {
    const reader = this.#reader;
    const size = reader?.size ?? 0;
    const end = Math.min(size, offset + maxBytes);
    const data = new Uint8Array(Math.max(0, end - offset));
    for (let at = 0; at < data.byteLength;) {
      assert.ok(reader !== null);
      const read = readSync(reader.fd, data, at, data.byteLength - at, offset + at);
      assert.ok(read > 0, `snapshot file ${reader.path} is shorter than the ${size} bytes it had when opened`);
      at += read;
    }
    return { data, done: end === size };
  }

  /** At start, removes every snapshot file but `keep`: the others are orphans of a crash before the batch that would record them. */
  async removeAllBut(keep: string | null): Promise<void> {
    for (const name of await readdir(this.dir)) {
      const path = join(this.dir, name);
      if (snapshotName.test(name) && path !== keep) await unlink(path);
    }
  }

  /**
   * Once the snapshot at `index` is durable, removes the files of older ones. Newer files stay: the
   * application may be writing one for a later compaction right now.
   */
  async removeOlderThan(index: number): Promise<void> {
    for (const name of await readdir(this.dir)) {
      const match = snapshotName.exec(name);
      if (match !== null && Number(match[1]) < index) await unlink(join(this.dir, name));
    }
  }

  async close(): Promise<void> {
    this.serve(null);
    const staging = this.#staging;
    this.#staging = null;
    await staging?.handle.close();
  }

  async #startStaging(snapshot: SnapshotMeta): Promise<void> {
    const previous = this.#staging;
    const path = join(this.dir, `staging-${snapshot.index}-${snapshot.term}`);
    if (previous !== null) {
      this.#staging = null;
      await previous.handle.close();
      if (previous.path !== path) await unlink(previous.path);
    }
    // 'w' truncates: a transfer that starts over at offset 0 replaces what was staged before.
    this.#staging = { staged: { snapshot, bytes: 0, complete: false }, path, handle: await open(path, 'w') };
  }
}
