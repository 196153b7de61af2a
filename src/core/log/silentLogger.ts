// The logger that drops everything: for tests, fakes and callers that were given no logger. Plain
// functions, not a pino instance, so the plugin API does not pull pino into a plugin that only wants this.
import type { Logger } from '../ports/common.js';

const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => SILENT };

/** A logger that drops everything. */
export function silentLogger(): Logger {
  return SILENT;
}
