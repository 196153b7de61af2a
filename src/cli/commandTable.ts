// A command group's top-level commands by name, so that `vmr <word>` defines only the command it runs: defining
// a group's every command and option was most of what `vmr images` allocated at start (issue 17).
import type { Command } from 'commander';

export type CommandTable = [name: string, define: (program: Command) => void][];

/** Defines the command named `word` when the table has it; otherwise (no word, an alias) all of them, in order. */
export function defineCommands(program: Command, table: CommandTable, word?: string): void {
  const one = word === undefined ? undefined : table.find(([name]) => name === word);
  for (const [, define] of one ? [one] : table) define(program);
}
