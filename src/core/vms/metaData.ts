// NoCloud meta-data keys vmr fills in (instance-id, local-hostname) without replacing the user's own:
// a key the user's meta-data sets wins. JSON meta-data stays JSON; YAML gets the missing lines first.

/** `metaData` with each of `defaults` it does not set already. */
export function metaDataWithDefaults(metaData: string, defaults: Record<string, string>): string {
  const trimmed = metaData.trim();
  if (trimmed.startsWith('{')) {
    // JSON is valid meta-data too; keep it JSON rather than prepend YAML lines to it.
    try {
      const obj = JSON.parse(trimmed) as Record<string, unknown>;
      for (const [k, v] of Object.entries(defaults)) if (obj[k] === undefined) obj[k] = v;
      return JSON.stringify(obj, null, 2) + '\n';
    } catch {
      // Not JSON after all: fall through to the YAML rule.
    }
  }
  const missing = Object.entries(defaults)
    .filter(([k]) => !new RegExp(`^${k}\\s*:`, 'm').test(metaData))
    .map(([k, v]) => `${k}: ${v}\n`);
  const rest = metaData && !metaData.endsWith('\n') ? metaData + '\n' : metaData;
  return missing.join('') + rest;
}
