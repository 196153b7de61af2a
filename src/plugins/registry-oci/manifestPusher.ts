// Pushes a manifest after its blobs. Registries that predate OCI 1.1 may reject `artifactType`;
// then the manifest goes again without it (config.mediaType still says what it is). That is a new
// manifest with a new digest, which the caller reports.
import { hasCode, type Logger } from '../../plugin-api/index.js';
import { sha256 } from './digest.js';
import { OCI_MANIFEST } from './mediaTypes.js';
import type { Repository } from './repository.js';

export interface ManifestPushResult {
  digest: string;
  bytes: Buffer;
  /** The digest of the manifest as stored locally, when the registry got a rewritten one. */
  originalDigest?: string;
}

export async function pushManifest(repo: Repository, target: string, bytes: Buffer, log: Logger): Promise<ManifestPushResult> {
  const json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  const mediaType = (json.mediaType as string | undefined) ?? OCI_MANIFEST;
  try {
    await repo.putManifest(target, bytes, mediaType);
    return { digest: sha256(bytes), bytes };
  } catch (err) {
    const rejected = hasCode(err, 'INVALID_ARGUMENT', 'UNIMPLEMENTED');
    if (!rejected || json.artifactType === undefined) throw err;
    const { artifactType, ...rest } = json;
    const fallback = Buffer.from(JSON.stringify(rest));
    log.warn({ target, artifactType, err: (err as Error).message },
      'registry rejected the manifest with artifactType; pushing it without (config.mediaType carries the type; the digest changes)');
    await repo.putManifest(target, fallback, mediaType);
    return { digest: sha256(fallback), bytes: fallback, originalDigest: sha256(bytes) };
  }
}
