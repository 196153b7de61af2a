// The methods each built-in port requires, as a table the loader checks after a plugin's init: a plugin
// returning `{ 'vmregistry.auth.v1': {} }` fails at startup naming the plugin, port and method instead
// of failing later as an internal error. The table is checked against the port interfaces at compile
// time in both directions (no unknown name, no required method left out).
import type { PortTypes } from './refs.js';

/** The required (non-optional) method names of a port interface. */
export type RequiredMethods<T> = {
  [K in keyof T]-?: undefined extends T[K] ? never : T[K] extends (...args: never[]) => unknown ? K : never;
}[keyof T] & string;

type BuiltinPort = 'vmregistry.hypervisor.v1' | 'vmregistry.networks.v1' | 'vmregistry.registry.v1' | 'vmregistry.auth.v1' | 'vmregistry.compose.v1';

export const PORT_METHODS = {
  'vmregistry.hypervisor.v1': ['health', 'run', 'start', 'stop', 'restart', 'delete', 'get', 'list'],
  'vmregistry.networks.v1': ['health', 'list', 'get', 'create', 'activate', 'deactivate', 'delete'],
  'vmregistry.registry.v1': ['health', 'pull', 'push'],
  'vmregistry.auth.v1': ['health', 'login', 'logout', 'register', 'registryCredentials'],
  'vmregistry.compose.v1': ['health', 'validate', 'up', 'down', 'ps', 'restart'],
} as const satisfies { [K in BuiltinPort]: readonly RequiredMethods<PortTypes[K]>[] };

// Fails to compile (naming the method) when a port gains a required method the table lacks.
type Unlisted<K extends BuiltinPort> = Exclude<RequiredMethods<PortTypes[K]>, (typeof PORT_METHODS)[K][number]>;
const complete: { [K in BuiltinPort]: [Unlisted<K>] extends [never] ? true : Unlisted<K> } = {
  'vmregistry.hypervisor.v1': true,
  'vmregistry.networks.v1': true,
  'vmregistry.registry.v1': true,
  'vmregistry.auth.v1': true,
  'vmregistry.compose.v1': true,
};
void complete;

/**
 * What is wrong with `impl` as an implementation of port `portId` ('' when nothing is): not an
 * object, or a required method missing. Ports outside the table only need to be objects.
 */
export function implementationProblem(portId: string, impl: unknown): string {
  if (typeof impl !== 'object' && typeof impl !== 'function' || impl === null) {
    return `is ${impl === null ? 'null' : typeof impl}, not an object`;
  }
  const methods: readonly string[] = (PORT_METHODS as Record<string, readonly string[]>)[portId] ?? [];
  const missing = methods.filter((m) => typeof (impl as Record<string, unknown>)[m] !== 'function');
  return missing.length ? `lacks method${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` : '';
}
