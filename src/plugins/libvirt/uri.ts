import type { CallContext } from '../../plugin-api/index.js';

/** The libvirt URI a call goes to: the call's context's, or the plugin's configured default. */
export function resolveUri(ctx: CallContext | undefined, defaultUri: string): string {
  const u = ctx?.context?.libvirtUri?.trim();
  return u ? u : defaultUri;
}
