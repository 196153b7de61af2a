// Examples under every command's --help. Written with "{cmd}" for the command's own path, so the same
// text serves `vmr images` and its alias group `vmr image ls`.
import { InvalidArgumentError, type Command } from 'commander';

export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText('after', ({ command }) =>
    `\nExamples:\n${lines.map((l) => `  $ ${l.replaceAll('{cmd}', commandPath(command))}`).join('\n')}`);
}

/** Collects repeated options (`--label a=1 --label b=2`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) {
      // commander turns this into a usage error (exit 2) naming the option.
      throw new InvalidArgumentError(`${name} must be a whole number.`);
    }
    return n;
  };
}
