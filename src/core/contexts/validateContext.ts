import type { Issue } from '../errors.js';
import type { ContextInfo } from '../ports/common.js';

export const CONTEXT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** Field problems of a context, with snake_case paths as the proto names them. */
export function validateContext(c: ContextInfo): Issue[] {
  const issues: Issue[] = [];
  if (!CONTEXT_NAME.test(c.name)) {
    issues.push({ path: 'context.name', message: `"${c.name}" is not a valid name (letters, digits, "-", "_", "."; up to 63 characters, starting with a letter or digit)` });
  }
  if (c.registryUrl) {
    const withScheme = /^[a-z]+:\/\//i.test(c.registryUrl) ? c.registryUrl : `https://${c.registryUrl}`;
    try {
      const u = new URL(withScheme);
      if (!['http:', 'https:'].includes(u.protocol)) throw new Error('scheme');
      if (u.search || u.hash) throw new Error('query');
    } catch {
      issues.push({ path: 'context.registry_url', message: `"${c.registryUrl}" is not a registry address (host[:port] or http(s)://host[:port])` });
    }
  }
  if (c.authServer) {
    try {
      const u = new URL(c.authServer);
      if (!['http:', 'https:'].includes(u.protocol)) throw new Error('scheme');
    } catch {
      issues.push({ path: 'context.auth_server', message: `"${c.authServer}" is not an OIDC issuer URL (https://…)` });
    }
  }
  if (c.libvirtUri && !/^[a-z][a-z0-9+.-]*:\/\/[^\s]*$/i.test(c.libvirtUri)) {
    issues.push({ path: 'context.libvirt_uri', message: `"${c.libvirtUri}" is not a libvirt URI (e.g. qemu:///system, qemu+ssh://host/system)` });
  }
  if (c.description.length > 1024) issues.push({ path: 'context.description', message: 'is longer than 1024 characters' });
  return issues;
}
