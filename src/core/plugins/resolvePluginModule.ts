// Finds a plugin's module from its config entry: a built-in id, an npm package name, or a path.
import { createRequire } from 'node:module';
import path from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '../errors.js';
import { PACKAGE_ROOT } from '../version.js';
import { isPluginDefinition, type PluginDefinition } from './definePlugin.js';
import { BUILTIN_PLUGINS } from '../config/DaemonConfig.js';
import { packageEntry } from './packageEntry.js';

export function builtinModulePath(id: string): string {
  return path.join(PACKAGE_ROOT, 'dist', 'src', 'plugins', id, 'index.js');
}

export async function loadPluginModule(id: string, module: string | undefined, baseDir: string): Promise<{ def: PluginDefinition; from: string }> {
  const spec = module ?? id;
  let url: string;
  let from: string;
  if (!module && (BUILTIN_PLUGINS as readonly string[]).includes(id)) {
    from = `built-in ${id}`;
    url = pathToFileURL(builtinModulePath(id)).href;
  } else if (spec.startsWith('.') || spec.startsWith('/')) {
    const abs = path.resolve(baseDir, spec);
    if (!existsSync(abs)) throw new InvalidArgumentError(`plugin "${id}": module path ${abs} does not exist`, { field: `plugins.${id}.module` });
    from = abs;
    url = pathToFileURL(statSync(abs).isDirectory() ? packageEntry(abs, `plugins.${id}.module`) : abs).href;
  } else {
    // An npm package: installed beside the config file first, then beside the daemon.
    from = `package ${spec}`;
    let resolved: string | undefined;
    for (const dir of [baseDir, PACKAGE_ROOT]) {
      try {
        resolved = createRequire(path.join(dir, 'noop.js')).resolve(spec);
        break;
      } catch { /* try the next place */ }
    }
    if (!resolved) {
      throw new InvalidArgumentError(`plugin "${id}": unknown plugin or package "${spec}" (built-ins: ${BUILTIN_PLUGINS.join(', ')}; ` +
        `otherwise npm install it or give a path)`, { field: `plugins.${id}.module` });
    }
    url = pathToFileURL(resolved).href;
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new InvalidArgumentError(`plugin "${id}": cannot load ${from}: ${(err as Error).message}`, { cause: err, field: `plugins.${id}.module` });
  }
  const def = [mod.default, mod.plugin, (mod.default as Record<string, unknown> | undefined)?.default].find(isPluginDefinition);
  if (!def) {
    throw new InvalidArgumentError(`plugin "${id}": ${from} does not export a plugin (default-export the result of definePlugin() from vmregistry/plugin-api)`,
      { field: `plugins.${id}.module` });
  }
  if (def.id !== id) {
    throw new InvalidArgumentError(`plugin "${id}": ${from} defines plugin "${def.id}"; use "${def.id}" as its key under plugins`, { field: `plugins.${id}` });
  }
  return { def, from };
}
