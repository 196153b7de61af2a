// Image references: `[registry/]repository[:tag|@sha256:…]`. Unlike Docker we do not prefix
// `docker.io/library/`: a local name stays as the user wrote it, so what `vmr images` shows is
// what was typed, and the full string is what index.json stores as `ref.name`.
import { InvalidArgumentError } from '../errors.js';
import { isDigest } from './digest.js';

export interface ParsedReference {
  /** `registry/repository` as written (registry part optional). */
  repository: string;
  registry?: string;
  /** Set unless the reference is by digest. */
  tag?: string;
  digest?: string;
  /** Canonical string: `repository:tag` or `repository@digest`. */
  reference: string;
}

export const DEFAULT_TAG = 'latest';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOST = /^(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|[A-Za-z0-9-.]+:[0-9]+|\[[0-9a-fA-F:]+\](?::[0-9]+)?)$/;

function bad(ref: string, why: string, field: string): never {
  throw new InvalidArgumentError(
    `image reference "${ref}" is invalid: ${why} (expected [registry/]repository[:tag|@sha256:<hex>], e.g. localhost:5000/demo/debian:12)`,
    { field },
  );
}

/** A reference cut into its parts, each as written; `tag` is absent when none was written. */
export interface ReferenceParts {
  /** `host[:port]` when the first path component names one (docker's rule: a dot, a colon, `localhost`, `[v6]`). */
  registry?: string;
  /** Repository path below the registry. */
  path: string;
  tag?: string;
  digest?: string;
}

/**
 * The one image-reference grammar (the image store, the registry plugin and the fakes all cut references
 * with it). A first component that looks like a host must be a valid `host[:port]`: `reg_x.example/vm`
 * is refused, as docker refuses it, rather than read as a local repository name.
 */
export function splitReference(input: string, field = 'reference'): ReferenceParts {
  const ref = input.trim();
  if (ref === '') bad(input, 'it is empty', field);
  if (ref.length > 1024) bad(ref.slice(0, 40) + '…', 'it is longer than 1024 characters', field);
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) bad(ref, `"${digest}" is not a sha256 digest`, field);
  }
  let registry: string | undefined;
  const slash = rest.indexOf('/');
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      if (!HOST.test(first)) bad(ref, `registry "${first}" is not a host[:port]`, field);
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) bad(ref, `tag "${tag}" must be 1–128 of [A-Za-z0-9_.-], not starting with . or -`, field);
  }
  if (rest === '' || rest.split('/').some((p) => !COMPONENT.test(p))) {
    bad(ref, 'repository path components must be lowercase letters, digits and single separators (. _ __ -)', field);
  }
  return { registry, path: rest, tag, digest };
}

export function parseReference(input: string, field = 'reference'): ParsedReference {
  const { registry, path, tag, digest } = splitReference(input, field);
  const repository = (registry ? registry + '/' : '') + path;
  if (digest) {
    // A tag next to a digest is informational only (as in Docker); the digest decides.
    return { repository, registry, digest, reference: `${repository}@${digest}` };
  }
  const t = tag ?? DEFAULT_TAG;
  return { repository, registry, tag: t, reference: `${repository}:${t}` };
}

/** `sha256:<hex>` or a hex prefix of at least 8 characters: a reference to a manifest by id. */
export function digestLike(input: string): { digest?: string; prefix?: string } | undefined {
  const s = input.trim();
  if (isDigest(s)) return { digest: s };
  const m = /^(?:sha256:)?([a-f0-9]{8,64})$/.exec(s);
  return m ? { prefix: m[1] } : undefined;
}
