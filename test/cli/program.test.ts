// `vmr <word>` builds only the command group holding <word> (program.ts COMMAND_GROUPS), or only <word>'s command
// where the group keeps a table of them (commandTable.ts): the table must name exactly the top-level commands (and
// aliases) each group registers, and the partial tree must behave.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { buildProgram, COMMAND_GROUPS, commandWord } from '../../src/cli/program.js';

const words = (p: Command) => p.commands.flatMap((c) => [c.name(), ...c.aliases()]).sort();

describe('command groups built on demand', () => {
  test('each group lists exactly the top-level words it registers, and no word is in two groups', () => {
    const seen = new Set<string>();
    for (const g of COMMAND_GROUPS) {
      const p = new Command('vmr');
      g.register(p);
      assert.deepEqual(words(p), [...g.words].sort());
      for (const w of g.words) {
        assert.ok(!seen.has(w), `${w} is in two groups`);
        seen.add(w);
      }
    }
    assert.deepEqual(words(buildProgram()), [...seen].sort());
  });

  test('the command word skips the global options', () => {
    assert.equal(commandWord(['ps']), 'ps');
    assert.equal(commandWord(['--json', '-H', 'unix:///x', 'images', '-q']), 'images');
    assert.equal(commandWord(['--host', 'unix:///x', '--json', 'network', 'ls']), 'network');
    assert.equal(commandWord(['--host=unix:///x', 'ps']), 'ps');
    assert.equal(commandWord(['-Hunix:///x', 'ps']), 'ps');
    assert.equal(commandWord(['--version']), undefined);
    assert.equal(commandWord([]), undefined);
  });

  test('a known word builds its group only; help, completion, unknown words and no word build everything', () => {
    const all = words(buildProgram()).length;
    const ps = buildProgram(['node', 'vmr', '--json', 'ps']);
    assert.ok(words(ps).includes('ps'));
    assert.ok(!words(ps).includes('pull'));
    // The image and VM groups define just the command asked for.
    for (const word of ['ps', 'run', 'images', 'pull', 'image', 'save', 'load']) {
      assert.deepEqual(words(buildProgram(['node', 'vmr', word])), word === 'image' ? ['image'] : [word], word);
    }
    const image = buildProgram(['node', 'vmr', 'image', 'ls']).commands[0]!;
    assert.deepEqual(words(image), ['export', 'import', 'inspect', 'list', 'load', 'ls', 'prune', 'pull', 'push', 'remove', 'rm', 'save', 'tag', 'validate']);
    for (const argv of [['help', 'ps'], ['completion', 'bash'], ['pss'], ['--help'], []]) {
      assert.equal(words(buildProgram(['node', 'vmr', ...argv])).length, all, argv.join(' '));
    }
  });
});
