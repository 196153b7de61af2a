// What `validate` checks about readiness conditions beyond the schema: a condition must be one the
// dependency can meet. The daemon looks inside a guest only through its guest agent (it holds no SSH
// private key: the client keeps it), so cloud_init_done and service_healthy need an image with
// qemu-guest-agent; an image says it has none with the label vmregistry.io/guest-agent: "false".
import type { Condition, Dependency, Healthcheck } from './model.js';

type P = (string | number)[];

export const GUEST_AGENT_LABEL = 'vmregistry.io/guest-agent';
/** Conditions checked by running a command in the guest. */
export const NEEDS_GUEST_EXEC: ReadonlySet<Condition> = new Set(['cloud_init_done', 'service_healthy']);

export function checkReadiness(
  rawSvcs: Record<string, unknown>,
  deps: Map<string, Dependency[]>,
  healthchecks: Map<string, Healthcheck>,
  imageLabels: Map<string, Record<string, string>>,
  err: (p: P, message: string, atKey?: boolean) => void,
): void {
  const imageOf = (svc: string) => {
    const def = rawSvcs[svc];
    return typeof def === 'object' && def !== null ? (def as { image?: unknown }).image : undefined;
  };
  for (const svc of healthchecks.keys()) {
    const image = imageOf(svc);
    if (typeof image === 'string' && imageLabels.get(image)?.[GUEST_AGENT_LABEL] === 'false') {
      err(['services', svc, 'healthcheck'], `the healthcheck cannot run: image ${image} has no guest agent (label ${GUEST_AGENT_LABEL}=false) ` +
        'and the daemon runs healthchecks only through it', true);
    }
  }
  for (const [svc, list] of deps) {
    for (const d of list) {
      if (!(d.service in rawSvcs) || d.service === svc) continue; // reported with the references
      const at: P = ['services', svc, 'depends_on', d.service, 'condition'];
      if (d.condition === 'service_healthy' && !healthchecks.has(d.service)) {
        err(at, `condition service_healthy needs a healthcheck: on service "${d.service}"; add one or wait for cloud_init_done or ssh_ready`);
      }
      const image = imageOf(d.service);
      const labels = typeof image === 'string' ? imageLabels.get(image) : undefined;
      if (NEEDS_GUEST_EXEC.has(d.condition) && labels?.[GUEST_AGENT_LABEL] === 'false') {
        err(at, `condition ${d.condition} cannot be met by service "${d.service}": its image ${image} has no guest agent ` +
          `(label ${GUEST_AGENT_LABEL}=false) and the daemon checks inside a guest only through it (it holds no SSH private key); ` +
          'use ssh_ready, or an image with qemu-guest-agent');
      }
    }
  }
}
