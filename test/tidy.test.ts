// Enforces the layout and dependency rules of DESIGN.md by reading the source tree (TigerBeetle's tidy.zig, as a test).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import t from 'tap';

/** A source file, with its path relative to the repository root in posix form (`src/raft/core/log.ts`). */
interface SourceFile {
  readonly path: string;
  readonly text: string;
}

/** One broken rule, pointing at a line (1-based). */
interface Violation {
  readonly path: string;
  readonly line: number;
  readonly what: string;
}

type Rule = (files: readonly SourceFile[]) => Violation[];

const rootDir = join(import.meta.dirname, '..');
const sourceExtension = /\.[cm]?[jt]sx?$/;
const bannedFolderNames = new Set(['utils', 'helpers', 'common']);

// ---------------------------------------------------------------------------
// Reading the tree

/** Every directory under `dir` (inclusive), as posix paths relative to the root. */
function walkDirs(dir: string): string[] {
  if (!existsSync(join(rootDir, dir))) return [];
  const dirs = [dir];
  for (const entry of readdirSync(join(rootDir, dir), { withFileTypes: true })) {
    if (entry.isDirectory()) dirs.push(...walkDirs(posix.join(dir, entry.name)));
  }
  return dirs;
}

function readSources(dir: string): SourceFile[] {
  const files: SourceFile[] = [];
  for (const d of walkDirs(dir)) {
    for (const entry of readdirSync(join(rootDir, d), { withFileTypes: true })) {
      if (!entry.isFile() || !sourceExtension.test(entry.name)) continue;
      const path = posix.join(d, entry.name);
      files.push({ path, text: readFileSync(join(rootDir, path), 'utf8') });
    }
  }
  return files;
}

// ---------------------------------------------------------------------------
// Scanning source text

/**
 * Blanks comments (and, if asked, the contents of '…' and "…" strings) with spaces,
 * keeping newlines so that offsets still map to the same lines.
 * Template literals are kept as they are, so code inside `${…}` is still checked.
 */
function blank(text: string, { strings }: { strings: boolean }): string {
  let out = '';
  let i = 0;
  const spaces = (s: string): string => s.replace(/[^\n]/g, ' ');
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i);
      const stop = end === -1 ? text.length : end;
      out += spaces(text.slice(i, stop));
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end === -1 ? text.length : end + 2;
      out += spaces(text.slice(i, stop));
      i = stop;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c && !(c !== '`' && text[j] === '\n')) {
        j += text[j] === '\\' ? 2 : 1;
      }
      const literal = text.slice(i, j + 1);
      out += strings && c !== '`' ? c + spaces(literal.slice(1, -1)) + c : literal;
      i = j + 1;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text[i] === '\n') line++;
  return line;
}

const importPatterns: readonly RegExp[] = [
  /\b(?:import|export)\s+(?:type\s+)?[\w$\s{},*]*?\bfrom\s*(['"])([^'"\n]+)\1/g,
  /\bimport\s*(['"])([^'"\n]+)\1/g,
  /\bimport\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g,
  /\brequire\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g,
];

/** Every module specifier a file imports, re-exports, dynamically imports or requires. */
function importsOf(file: SourceFile): { specifier: string; line: number }[] {
  const code = blank(file.text, { strings: false });
  const found: { specifier: string; line: number; index: number }[] = [];
  for (const pattern of importPatterns) {
    for (const m of code.matchAll(pattern)) {
      const specifier = m[2];
      if (specifier !== undefined) {
        found.push({ specifier, index: m.index, line: lineAt(code, m.index) });
      }
    }
  }
  return found.sort((a, b) => a.index - b.index).map(({ specifier, line }) => ({ specifier, line }));
}

/** Where a relative specifier points, as a root-relative posix path; undefined for packages and node: modules. */
function resolveRelative(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  return posix.normalize(posix.join(posix.dirname(from), specifier));
}

function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir + '/');
}

/** Each match of each pattern in the file's code, with comments and string contents blanked out. */
function findTokens(file: SourceFile, patterns: readonly RegExp[], { strings = true } = {}): Violation[] {
  const code = blank(file.text, { strings });
  const found: Violation[] = [];
  for (const pattern of patterns) {
    const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g');
    for (const m of code.matchAll(global)) {
      found.push({ path: file.path, line: lineAt(code, m.index), what: `uses ${m[0].trim()}` });
    }
  }
  return found.sort((a, b) => a.line - b.line);
}

// ---------------------------------------------------------------------------
// Rules

const coreDir = 'src/raft/core';
const raftDir = 'src/raft';
const coreAllowedModules = new Set(['node:assert', 'node:assert/strict']);

const clockAndEnvironment: readonly RegExp[] = [
  /\bDate\.now\b/,
  /\bnew\s+Date\b/,
  /(?<![\w$])setTimeout\b/,
  /(?<![\w$])setInterval\b/,
  /(?<![\w$])setImmediate\b/,
  /\bMath\.random\b/,
  /(?<![\w$])process\s*\./,
  /\bperformance\.now\b/,
];
const clockAndChance: readonly RegExp[] = [/\bDate\.now\b/, /(?<![\w$])setTimeout\b/, /\bMath\.random\b/];

/** raft/core imports only its own modules and node:assert. */
const coreImportsOnlyItself: Rule = (files) =>
  files
    .filter((f) => isUnder(f.path, coreDir))
    .flatMap((f) =>
      importsOf(f)
        .filter(({ specifier }) => {
          if (coreAllowedModules.has(specifier)) return false;
          const target = resolveRelative(f.path, specifier);
          return target === undefined || !isUnder(target, coreDir);
        })
        .map(({ specifier, line }) => ({ path: f.path, line, what: `imports '${specifier}'` })),
    );

/** raft/core reads no clock, timer, randomness or process state: time and seeds are injected. */
const coreIsDeterministic: Rule = (files) =>
  files.filter((f) => isUnder(f.path, coreDir)).flatMap((f) => findTokens(f, clockAndEnvironment));

/** Nothing under src/raft reaches outside src/raft with a relative import. */
const raftStaysInside: Rule = (files) =>
  files
    .filter((f) => isUnder(f.path, raftDir))
    .flatMap((f) =>
      importsOf(f)
        .filter(({ specifier }) => {
          const target = resolveRelative(f.path, specifier);
          return target !== undefined && !isUnder(target, raftDir);
        })
        .map(({ specifier, line }) => ({ path: f.path, line, what: `imports '${specifier}'` })),
    );

/** jobs and the store's state machine are deterministic: no clock reads, timers or Math.random. */
const jobsAndStateMachineAreDeterministic: Rule = (files) =>
  files
    .filter((f) => isUnder(f.path, 'src/jobs') || ['src/store/state-machine.ts', 'src/store/apply-command.ts',
      'src/store/apply-fire.ts', 'src/scheduler/catchup.ts', 'src/scheduler/retry.ts', 'src/scheduler/slot-heap.ts'].includes(f.path))
    .flatMap((f) => findTokens(f, clockAndChance));

/** Only src/config reads the environment. */
const envOnlyInConfig: Rule = (files) =>
  files
    .filter((f) => !isUnder(f.path, 'src/config'))
    .flatMap((f) => findTokens(f, [/(?<![\w$])process\s*(?:\.\s*env\b|\[\s*['"]env['"]\s*\])/], { strings: false }));

/**
 * DESIGN.md's dependency direction between the folders of src: each may import, by relative path, only
 * what its row lists (a directory, or one file). raft is covered by raftStaysInside.
 */
const layers: readonly [string, readonly string[]][] = [
  ['src/jobs', ['src/jobs']],
  ['src/store', ['src/store', 'src/jobs']],
  ['src/config', ['src/config']],
  ['src/leveldb', ['src/leveldb']],
  ['src/api', ['src/api', 'src/jobs', 'src/store/queries.ts', 'src/raft/index.ts']],
  // The scheduler reads the store through its queries' types and proposes through an injected port, never raft.
  ['src/scheduler', ['src/scheduler', 'src/jobs', 'src/store/queries.ts']],
];

/** The root-relative .ts file a relative specifier names. */
function targetFile(from: string, specifier: string): string | undefined {
  return resolveRelative(from, specifier)?.replace(/\.js$/, '.ts');
}

const layersPointOneWay: Rule = (files) =>
  files.flatMap((f) => {
    const row = layers.find(([dir]) => isUnder(f.path, dir));
    const onlyMainImportsNode = (target: string): boolean => target === 'src/node.ts' && f.path !== 'src/main.ts';
    return importsOf(f)
      .filter(({ specifier }) => {
        const target = targetFile(f.path, specifier);
        if (target === undefined) return false;
        if (onlyMainImportsNode(target)) return true;
        return row !== undefined && !row[1].some((allowed) => isUnder(target, allowed));
      })
      .map(({ specifier, line }) => ({ path: f.path, line, what: `imports '${specifier}'` }));
  });

/** Nothing in src logs with console; modules get a pino child logger. */
const noConsole: Rule = (files) => files.flatMap((f) => findTokens(f, [/(?<![\w$.])console\s*[.[]/]));

/** Every file opens with a comment on its job (after an optional shebang). */
const opensWithComment: Rule = (files) =>
  files.flatMap((f) => {
    const lines = f.text.split('\n');
    const index = lines.findIndex((l, i) => l.trim() !== '' && !(i === 0 && l.startsWith('#!')));
    const first = index === -1 ? '' : (lines[index] ?? '').trim();
    return first.startsWith('//') || first.startsWith('/**')
      ? []
      : [{ path: f.path, line: index + 1, what: 'does not open with a comment on its job' }];
  });

/** No grab-bag folders. */
function noGrabBagFolders(dirs: readonly string[]): Violation[] {
  return dirs
    .filter((d) => bannedFolderNames.has(posix.basename(d)))
    .map((d) => ({ path: d, line: 0, what: 'is a utils/helpers/common folder' }));
}

// ---------------------------------------------------------------------------
// The test

function describe(violations: readonly Violation[]): string[] {
  return violations.map((v) => (v.line > 0 ? `${v.path}:${v.line} ${v.what}` : `${v.path} ${v.what}`));
}

/** The offending `file:line` list, and an assertion message that repeats it. */
function report(name: string, violations: readonly Violation[]): { lines: string[]; message: string } {
  const lines = describe(violations);
  return { lines, message: lines.length === 0 ? name : `${name}; offenders:\n  ${lines.join('\n  ')}` };
}

const sources = readSources('src');

const rules: readonly [string, Rule][] = [
  ['raft/core imports only ./ modules and node:assert', coreImportsOnlyItself],
  ['raft/core reads no clock, timers, randomness or process', coreIsDeterministic],
  ['src/raft never imports from outside src/raft', raftStaysInside],
  ['jobs, the store\'s apply and the pure scheduler parts use no Date.now, setTimeout or Math.random', jobsAndStateMachineAreDeterministic],
  ['process.env is read only under src/config', envOnlyInConfig],
  ['jobs, store, config, api and scheduler import only what DESIGN.md allows; only main.ts imports node.ts', layersPointOneWay],
  ['console is not used anywhere in src', noConsole],
  ['every file in src opens with a comment on its job', opensWithComment],
];

for (const [name, rule] of rules) {
  t.test(name, async (t) => {
    const { lines, message } = report(name, rule(sources));
    t.strictSame(lines, [], message);
  });
}

t.test('src has no utils, helpers or common folders', async (t) => {
  const { lines, message } = report('no grab-bag folders', noGrabBagFolders(walkDirs('src')));
  t.strictSame(lines, [], message);
});

t.test('the rules catch offending source (self-check)', async (t) => {
  const fake = (path: string, text: string): SourceFile[] => [{ path, text }];

  t.strictSame(
    describe([
      ...layersPointOneWay(fake('src/store/bad.ts', "// Bad.\nimport { x } from '../jobs/job.js';\nimport { y } from '../raft/index.js';")),
      ...layersPointOneWay(fake('src/api/bad.ts', "// Bad.\nimport { q } from '../store/queries.js';\nimport { r } from '../raft/runner.js';")),
      ...layersPointOneWay(fake('src/api/worse.ts', "// Bad.\nimport { n } from '../node.js';")),
    ]),
    [
      "src/store/bad.ts:3 imports '../raft/index.js'",
      "src/api/bad.ts:3 imports '../raft/runner.js'",
      "src/api/worse.ts:2 imports '../node.js'",
    ],
    'layer rule flags imports against the dependency direction',
  );

  t.strictSame(
    describe(
      coreImportsOnlyItself(
        fake(
          'src/raft/core/bad.ts',
          [
            '// Bad.',
            "import { strict as assert } from 'node:assert';",
            "import type { Entry } from './types.js';",
            "import { readFile } from 'node:fs';",
            'import {',
            '  Logger,',
            "} from '../runner.js';",
            "const x = await import('undici');",
          ].join('\n'),
        ),
      ),
    ),
    [
      "src/raft/core/bad.ts:4 imports 'node:fs'",
      "src/raft/core/bad.ts:5 imports '../runner.js'",
      "src/raft/core/bad.ts:8 imports 'undici'",
    ],
    'core import rule flags packages and escaping relative paths',
  );

  t.strictSame(
    describe(
      coreIsDeterministic(
        fake(
          'src/raft/core/bad.ts',
          [
            '// Bad. Never call Date.now() here.',
            "const s = 'Math.random is banned';",
            'const a = Date.now();',
            'setTimeout(() => {}, 1);',
            'const r = Math.random() + performance.now();',
            'const e = process.env.X;',
            'const d = new Date();',
          ].join('\n'),
        ),
      ),
    ),
    [
      'src/raft/core/bad.ts:3 uses Date.now',
      'src/raft/core/bad.ts:4 uses setTimeout',
      'src/raft/core/bad.ts:5 uses Math.random',
      'src/raft/core/bad.ts:5 uses performance.now',
      'src/raft/core/bad.ts:6 uses process.',
      'src/raft/core/bad.ts:7 uses new Date',
    ],
    'core determinism rule flags code but not comments or strings',
  );

  t.strictSame(
    describe(raftStaysInside(fake('src/raft/runner.ts', "// Runner.\nimport { Job } from '../jobs/job.js';\n"))),
    ["src/raft/runner.ts:2 imports '../jobs/job.js'"],
    'raft boundary rule flags imports that leave src/raft',
  );

  t.strictSame(
    describe(jobsAndStateMachineAreDeterministic(fake('src/store/state-machine.ts', '// Store.\nconst n = Date.now();\n'))),
    ['src/store/state-machine.ts:2 uses Date.now'],
    'jobs/state-machine rule flags Date.now',
  );

  t.strictSame(
    describe(envOnlyInConfig([...fake('src/api/app.ts', "// App.\nconst p = process['env'];\n"), ...fake('src/config/load.ts', '// Load.\nprocess.env.X;\n')])),
    ['src/api/app.ts:2 uses process[\'env\']'],
    'env rule flags process.env outside src/config only',
  );

  t.strictSame(
    describe(noConsole(fake('src/node.ts', "// Node.\nconst u = 'http://x';\nconsole.log(u);\n"))),
    ['src/node.ts:3 uses console.'],
    'console rule flags console and survives // inside strings',
  );

  t.strictSame(
    describe(opensWithComment([...fake('src/a.ts', '\nexport const a = 1;\n'), ...fake('src/main.ts', '#!/usr/bin/env node\n/** Main. */\n')])),
    ['src/a.ts:2 does not open with a comment on its job'],
    'header rule flags a file without an opening comment and allows a shebang',
  );

  t.strictSame(
    describe(noGrabBagFolders(['src', 'src/api', 'src/api/utils'])),
    ['src/api/utils is a utils/helpers/common folder'],
    'folder rule flags utils',
  );
});
