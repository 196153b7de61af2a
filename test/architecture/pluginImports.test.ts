// The plugin boundary, kept by the build: a built-in plugin imports only its own folder, npm packages and
// the plugin API (`vmregistry/plugin-api`, or src/plugin-api/index.js by relative path). Anything else —
// src/core/**, src/testing/**, another plugin — is a dependency an outside plugin could not have.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';

const SRC = path.resolve('src');
const PLUGINS = path.join(SRC, 'plugins');
const PLUGIN_API = path.join(SRC, 'plugin-api', 'index.ts');

/** Every module specifier in `text` (static, `import type`, re-exports, dynamic `import()`), with its line. */
function specifiers(fileName: string, text: string): { spec: string; line: number }[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const out: { spec: string; line: number }[] = [];
  const add = (node: ts.Node, lit: ts.Expression | undefined): void => {
    if (lit && ts.isStringLiteralLike(lit)) out.push({ spec: lit.text, line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node, node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression);
    } else if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword
      || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) {
      add(node, node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Why `spec`, imported by the plugin file `file`, crosses the boundary; undefined when it does not. */
export function boundaryViolation(file: string, spec: string): string | undefined {
  const plugin = path.relative(PLUGINS, file).split(path.sep)[0]!;
  if (spec.startsWith('vmregistry')) {
    return spec === 'vmregistry/plugin-api' || spec === 'vmregistry' ? undefined : `${spec} is not the plugin API`;
  }
  if (!spec.startsWith('.')) return undefined; // node: builtins and npm packages
  const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
  if (target === PLUGIN_API) return undefined;
  const inPlugin = path.relative(path.join(PLUGINS, plugin), target);
  if (!inPlugin.startsWith('..') && !path.isAbsolute(inPlugin)) return undefined;
  const where = path.relative(SRC, target);
  if (where.startsWith(`plugins${path.sep}`)) return `${spec} reaches into another plugin (${where})`;
  return `${spec} reaches into src/${where} (import it from vmregistry/plugin-api)`;
}

export function violations(file: string, text: string): string[] {
  return specifiers(file, text).flatMap(({ spec, line }) => {
    const why = boundaryViolation(file, spec);
    return why ? [`${path.relative(process.cwd(), file)}:${line}: ${why}`] : [];
  });
}

async function tsFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name)).sort();
}

describe('plugin import boundary', () => {
  it('no built-in plugin imports src/core, src/testing or another plugin', async () => {
    const files = await tsFiles(PLUGINS);
    assert.ok(files.length > 50, `expected the plugin sources under ${PLUGINS}`);
    const found: string[] = [];
    for (const f of files) found.push(...violations(f, await readFile(f, 'utf8')));
    assert.deepEqual(found, [], `plugins must import only the plugin API:\n${found.join('\n')}`);
  });

  it('catches every import form, naming file and line', () => {
    const file = path.join(PLUGINS, 'libvirt', 'vm', 'x.ts');
    const text = [
      "import { a } from '../../../core/errors.js';",
      "import type { B } from '../../../core/ports/common.js';",
      "export { c } from '../../../testing/index.js';",
      "const m = await import('../../compose/load.js');",
      "type T = import('../../../core/names.js').X;",
      "import { ok } from '../../../plugin-api/index.js';",
      "import { own } from '../rpc/index.js';",
      "import { pkg } from 'yaml';",
      "import { api } from 'vmregistry/plugin-api';",
      "import { t } from 'vmregistry/testing';",
    ].join('\n');
    const got = violations(file, text);
    assert.deepEqual(got.map((v) => v.replace(/: .*/, '')), [1, 2, 3, 4, 5, 10].map((n) => `src/plugins/libvirt/vm/x.ts:${n}`));
    assert.match(got[3]!, /another plugin \(plugins\/compose\/load\.ts\)/);
    assert.match(got[0]!, /src\/core\/errors\.ts/);
  });
});
