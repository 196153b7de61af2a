// The shape a manifest from a registry must have before anything walks it: a JSON object whose
// config, layers and manifests are descriptors (sha256 digest, size) — a registry that serves `null`,
// an array or a layer without a digest gets DATA_LOSS naming the spot, never a TypeError.
import { DataLossError, isDigest } from '../../plugin-api/index.js';

const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

function descriptor(v: unknown, at: string, bad: (why: string) => never): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${at} is ${kind(v)}, not a descriptor`);
  const d = v as { digest?: unknown; size?: unknown; mediaType?: unknown };
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) bad(`${at}.digest is not a sha256 digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) bad(`${at}.size is not a byte count`);
  if (d.mediaType !== undefined && typeof d.mediaType !== 'string') bad(`${at}.mediaType is not a string`);
}

/** Throws DATA_LOSS unless `json` is an image manifest or index we can walk safely. */
export function checkManifestShape(json: unknown, what = 'manifest'): void {
  const bad = (why: string): never => {
    throw new DataLossError(`${what}: the registry served an invalid manifest: ${why}`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) bad(`it is ${kind(json)}, not a JSON object`);
  const m = json as Record<string, unknown>;
  if (m.mediaType !== undefined && typeof m.mediaType !== 'string') bad('mediaType is not a string');
  if (m.artifactType !== undefined && typeof m.artifactType !== 'string') bad('artifactType is not a string');
  if (m.config !== undefined) descriptor(m.config, 'config', bad);
  for (const list of ['layers', 'manifests'] as const) {
    const v = m[list];
    if (v === undefined) continue;
    if (!Array.isArray(v)) bad(`${list} is ${kind(v)}, not an array`);
    (v as unknown[]).forEach((d, i) => descriptor(d, `${list}[${i}]`, bad));
  }
  if (m.config === undefined && m.layers === undefined && m.manifests === undefined) bad('it has neither config/layers nor manifests');
  if (Array.isArray(m.manifests)) {
    for (const [i, d] of (m.manifests as Array<{ platform?: unknown }>).entries()) {
      if (d.platform !== undefined && (typeof d.platform !== 'object' || d.platform === null)) bad(`manifests[${i}].platform is not an object`);
    }
  }
}
