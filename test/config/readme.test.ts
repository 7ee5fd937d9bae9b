// The README's configuration table is exactly the one printed from the schema, so the two can never drift apart.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { configTableMarkdown } from '../../src/config/schema.js';

const startMarker = '<!-- config-table:start -->';
const endMarker = '<!-- config-table:end -->';
const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

t.test('the README has one configuration table between its markers, under ## Configuration', async (t) => {
  t.equal(readme.split(startMarker).length, 2, 'one start marker');
  t.equal(readme.split(endMarker).length, 2, 'one end marker');
  const section = readme.indexOf('\n## Configuration\n');
  t.ok(section !== -1, 'a Configuration section');
  t.ok(section < readme.indexOf(startMarker) && readme.indexOf(startMarker) < readme.indexOf(endMarker), 'markers in order');
  const nextSection = readme.indexOf('\n## ', section + 1);
  t.ok(nextSection === -1 || readme.indexOf(endMarker) < nextSection, 'the table is inside the section');
});

t.test("the README's table equals the one generated from the schema", async (t) => {
  const start = readme.indexOf(startMarker) + startMarker.length;
  const table = readme.slice(start, readme.indexOf(endMarker)).trim();
  t.equal(table, configTableMarkdown(), 'regenerate the README table from configTableMarkdown() in src/config/schema.ts');
});
