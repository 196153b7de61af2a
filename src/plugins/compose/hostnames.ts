// The DNS names of a project's VMs: replica n of service s answers to `s-n` and `s-n.<project>`; the
// first replica also to `s` and `s.<project>` (a libvirt network holds one entry per name). The
// `.<project>` names mark the entries as the project's own, so down finds them without the file.
import { isDnsName } from '../../plugin-api/index.js';

/** False when the project's name cannot be a DNS label (e.g. it has "_"): its VMs get no entries. */
export const projectHasNames = (project: string): boolean => isDnsName(project) && !project.includes('.');

export function vmHostnames(project: string, service: string, index: number): string[] {
  const own = [`${service}-${index}`, `${service}-${index}.${project}`];
  const names = index === 1 ? [service, `${service}.${project}`, ...own] : own;
  return names.filter(isDnsName).map((n) => n.toLowerCase());
}

/** The guest's hostname: the service's name, or `<service>-<n>` for a service with replicas. */
export const guestHostname = (service: string, index: number, replicas: number): string =>
  (replicas > 1 ? `${service}-${index}` : service).toLowerCase();

/** An entry the project made: one of its names ends in `.<project>`. */
export const isProjectEntry = (project: string, hostnames: string[]): boolean =>
  hostnames.some((h) => h.toLowerCase().endsWith(`.${project.toLowerCase()}`));
