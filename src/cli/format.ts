// How values look to a human: sizes like docker (decimal units, 3 significant digits), times relative
// ("3 minutes ago"), digests and ids shortened to 12 characters.

const sizeUnits = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

/** 1234567 → "1.23MB" (docker's units.HumanSize). */
export function humanSize(bytes: number | string | bigint): string {
  let n = Number(bytes);
  if (!Number.isFinite(n) || n < 0) return String(bytes);
  let i = 0;
  while (n >= 1000 && i < sizeUnits.length - 1) {
    n /= 1000;
    i++;
  }
  // toPrecision can round 999.6 up to "1.00e+3": move to the next unit instead.
  if (Number(n.toPrecision(3)) >= 1000 && i < sizeUnits.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number(n.toPrecision(3))}${sizeUnits[i]}`;
}

/** MiB as stored in VM specs → "512MiB" / "2GiB". */
export function humanMiB(mib: number): string {
  if (!mib) return '-';
  return mib % 1024 === 0 ? `${mib / 1024}GiB` : `${mib}MiB`;
}

/** Seconds → docker's HumanDuration wording ("About a minute", "3 hours"). */
export function humanDuration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const minutes = Math.floor(s / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(s / 3600);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** RFC 3339 → "3 minutes ago"; empty or unparsable → "-" / as given. */
export function relativeTime(rfc3339: string, now = Date.now()): string {
  if (!rfc3339) return '-';
  const t = Date.parse(rfc3339);
  if (Number.isNaN(t)) return rfc3339;
  const diff = (now - t) / 1000;
  return diff < 0 ? `in ${humanDuration(-diff).toLowerCase()}` : `${humanDuration(diff)} ago`;
}

/** Seconds → compact "1h02m", "3m05s", "42s" for ETAs. */
export function compactDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** "sha256:abcdef…" → "abcdef012345" (docker's IMAGE ID). */
export function shortDigest(digest: string, trunc = true): string {
  if (!trunc) return digest;
  const hex = digest.includes(':') ? digest.slice(digest.indexOf(':') + 1) : digest;
  return hex.slice(0, 12);
}

export function shortId(id: string, trunc = true): string {
  return trunc ? id.replace(/-/g, '').slice(0, 12) : id;
}

export function formatLabels(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '';
}

/** Columns separated by three spaces, like docker; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** A JSON text the daemon returned, parsed for display; kept as text when it is not JSON, null when empty. */
export function parseOrRaw(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
