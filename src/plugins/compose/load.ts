// VMCompose text → a resolved Project, or every problem at once (path + line). Order: YAML syntax,
// interpolation, schema, then the checks that need the whole file (references, cycles, CIDRs, files, images).
import { createHash } from 'node:crypto';
import path from 'node:path';
import { isMap, isPair, isScalar, isSeq, stringify, type Document, type LineCounter, type Node } from 'yaml';
import {
  type CloudInit, type ComposeSource, type ImageStore, inNet, type Ipv4Net, isNetworkName, type Issue, isVmName,
  type NetworkMode, overlaps, parseSubnet, parseIpv4, parseYaml, quote, yamlValue,
} from '../../plugin-api/index.js';
import { findCycles, levels } from './graph.js';
import { interpolate } from './interpolate.js';
import { asCondition, type Dependency, type Healthcheck, type Project, type ResolvedNetwork, type ResolvedService } from './model.js';
import { checkReadiness } from './readinessRules.js';
import { resolveHealthcheck } from './healthcheck.js';
import { checkSchema, composeSchema } from './schema.js';
import { checkAddresses, fixedAddress } from './addresses.js';

export interface LoadResult {
  project?: Project;
  /** Line of a path in the file (for checks made after loading). */
  lineOf?: (p: P, atKey?: boolean) => number | undefined;
  projectName: string;
  services: string[];
  errors: Issue[];
  warnings: Issue[];
}

export type P = (string | number)[];
type Raw = Record<string, unknown>;

const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const MAX_FILE = 4 * 1024 * 1024;
/** VMs in one project, all services together; one service is bounded by the schema's replicas maximum. */
export const MAX_PROJECT_VMS = 256;
const MAX_REPLICAS = composeSchema.$defs.service.properties.replicas.maximum;
const FILE_KEYS = [
  ['user_data_file', 'user_data', 'userData'],
  ['meta_data_file', 'meta_data', 'metaData'],
  ['network_config_file', 'network_config', 'networkConfig'],
] as const;

export const fieldPath = (p: P): string =>
  p.reduce<string>((s, seg) => (typeof seg === 'number' ? `${s}[${seg}]` : s ? `${s}.${seg}` : String(seg)), '');

export async function loadProject(src: ComposeSource, images?: ImageStore): Promise<LoadResult> {
  const errors: Issue[] = [];
  const warnings: Issue[] = [];
  const parsed = parseYaml(src.content ?? '', { what: 'a VMCompose file', aliases: true });
  const fail = (projectName = src.projectName ?? '') => ({ projectName, services: [], errors, warnings });
  errors.push(...parsed.errors);
  warnings.push(...parsed.warnings);
  const { doc, lineCounter: lc } = parsed;
  if (errors.length || !doc) return fail();
  if (!isMap(doc.contents)) {
    errors.push({ path: '', line: 1, message: 'a VMCompose file is a mapping with api_version, kind, name, networks and services', severity: 'error' });
    return fail();
  }

  const lineOf = (p: P, atKey = false) => lineAt(doc, lc, p, atKey);
  const err = (p: P, message: string, atKey = false) =>
    errors.push({ path: fieldPath(p), line: lineOf(p, atKey), message, severity: 'error' });
  const warn = (p: P, message: string) => warnings.push({ path: fieldPath(p), line: lineOf(p), message, severity: 'warning' });

  const interpolated = interpolateDoc(doc, src.env ?? {}, err, warn);
  const value = yamlValue({ ...parsed, doc }, 'a VMCompose file');
  if (value.error) {
    errors.push(value.error);
    return fail();
  }
  const raw = value.value as Raw;
  for (const iss of checkSchema(raw, interpolated)) err(iss.path, iss.message, iss.atKey);

  const projectName = src.projectName || (typeof raw.name === 'string' ? raw.name : '');
  if (!projectName) err(['name'], 'the project needs a name: set name: in the file or pass a project name');
  else if (src.projectName && !PROJECT_NAME.test(src.projectName)) {
    err(['name'], `project name "${src.projectName}" from the request must be lowercase letters, digits, "-" and "_", starting with a letter or digit`);
  }

  const rawNets = isObj(raw.networks) ? raw.networks : {};
  const rawSvcs = isObj(raw.services) ? raw.services : {};
  const serviceNames = Object.keys(rawSvcs);
  if (serviceNames.length === 0 && isObj(raw.services)) warn(['services'], 'the project has no services');

  const networks = resolveNetworks(projectName, rawNets, err, warn);
  const netByKey = new Map(networks.map((n) => [n.key, n]));

  // depends_on: references, then cycles.
  const deps = new Map<string, Dependency[]>();
  for (const [svc, def] of Object.entries(rawSvcs)) {
    if (!isObj(def)) continue;
    const list = dependencies(def.depends_on);
    for (const [i, d] of list.entries()) {
      const at: P = ['services', svc, 'depends_on', Array.isArray(def.depends_on) ? i : d.service];
      if (!(d.service in rawSvcs)) err(at, `unknown service "${d.service}"; services are: ${serviceNames.join(', ') || '(none)'}`, !Array.isArray(def.depends_on));
      else if (d.service === svc) err(at, `service "${svc}" depends on itself`, !Array.isArray(def.depends_on));
    }
    deps.set(svc, list);
  }
  const edges = new Map([...deps].map(([s, ds]) => [s, ds.map((d) => d.service).filter((d) => d !== s)]));
  for (const cycle of findCycles(edges)) err(['services', cycle[0]!, 'depends_on'], `dependency cycle: ${cycle.join(' → ')}`);

  // Per service: networks, VM names, cloud-init files. The project's VM count is bounded first, so a
  // file of many services cannot make us build names by the million either.
  const totalVms = Object.values(rawSvcs).reduce<number>((n, def) => n + (isObj(def) ? replicaCount(def.replicas) : 0), 0);
  const overTotal = totalVms > MAX_PROJECT_VMS;
  if (overTotal) err(['services'], `the project has ${totalVms} VMs (replicas summed over services); at most ${MAX_PROJECT_VMS} are allowed`);
  const healthchecks = new Map<string, Healthcheck>();
  for (const [svc, def] of Object.entries(rawSvcs)) {
    const h = isObj(def) ? resolveHealthcheck(def.healthcheck, ['services', svc, 'healthcheck'], err) : undefined;
    if (h) healthchecks.set(svc, h);
  }
  const seenVm = new Map<string, string>();
  const partial = new Map<string, Omit<ResolvedService, 'hash' | 'dependsOn'> & { hashInput: unknown }>();
  await Promise.all(Object.entries(rawSvcs).map(async ([svc, def]) => {
    if (!isObj(def)) return;
    const at: P = ['services', svc];
    let networkName = '';
    const netList = Array.isArray(def.networks) ? def.networks.filter((n): n is string => typeof n === 'string')
      : isObj(def.networks) ? Object.keys(def.networks) : [];
    if (isObj(def.networks) && netList.length > 1) err([...at, 'networks'], `may hold at most 1 network for now, got ${netList.length}`);
    netList.forEach((key, i) => {
      const n = netByKey.get(key);
      if (!n) {
        err([...at, 'networks', Array.isArray(def.networks) ? i : key], `unknown network "${key}"; declare it under networks: (use external: true for an existing host network)`, !Array.isArray(def.networks));
      } else networkName = n.name;
    });
    // The schema has already reported a count out of range; nothing is built per replica for it.
    const replicas = replicaCount(def.replicas);
    const vmNames = overTotal ? [] : Array.from({ length: replicas }, (_, i) => `${projectName}-${svc}-${i + 1}`);
    for (const vm of vmNames) {
      if (!isVmName(vm)) {
        err([...at], `VM name ${quote(vm)} is not a valid VM name (at most 63 letters, digits, "-", "_", "."); shorten the project or service name`, true);
        break;
      }
      const other = seenVm.get(vm.toLowerCase());
      if (other !== undefined) err(at, `VM name "${vm}" clashes with a replica of service "${other}" (VM names are hostnames: case does not count)`, true);
      else seenVm.set(vm.toLowerCase(), svc);
    }
    const cloudInit = await resolveCloudInit(def.cloud_init, src, [...at, 'cloud_init'], err);
    const res = isObj(def.resources) ? def.resources : {};
    const base = {
      name: svc,
      image: typeof def.image === 'string' ? def.image : '',
      memoryMb: num(res.memory_mb),
      vcpuCount: num(res.vcpu_count),
      diskSizeGb: num(res.disk_size_gb),
      networkName,
      ...(cloudInit ? { cloudInit } : {}),
      ephemeral: def.ephemeral === true,
      replicas,
      labels: isObj(def.labels) ? (def.labels as Record<string, string>) : {},
      vmNames,
    };
    const net = netList[0] !== undefined ? netByKey.get(netList[0]) : undefined;
    const fixed = fixedAddress(projectName, svc, def, net, replicas);
    partial.set(svc, {
      ...base,
      ...fixed,
      // The network's shape is part of a VM's identity: a VM on a re-addressed network is recreated.
      hashInput: { ...base, ...fixed, name: undefined, replicas: undefined, vmNames: undefined, network: net && { mode: net.mode, subnet: net.subnet } },
    });
  }));

  if (!overTotal) checkAddresses(projectName, networks, rawSvcs, err, warn);

  // Images: a warning when not local (up pulls it when a registry is configured).
  const imageLabels = new Map<string, Record<string, string>>();
  if (images) {
    const refs = new Map<string, P[]>();
    for (const [svc, def] of Object.entries(rawSvcs)) {
      if (isObj(def) && typeof def.image === 'string' && def.image) {
        refs.set(def.image, [...(refs.get(def.image) ?? []), ['services', svc, 'image']]);
      }
    }
    await Promise.all([...refs].map(async ([ref, paths]) => {
      try {
        const local = await images.resolve(ref);
        if (!local) {
          for (const p of paths) warn(p, `image "${ref}" is not in the local store; up pulls it if the context has a registry (or run "vmr pull ${ref}")`);
        } else imageLabels.set(ref, local.info?.labels ?? {});
      } catch (e) {
        for (const p of paths) err(p, `image "${ref}": ${(e as Error).message}`);
      }
    }));
  }

  checkReadiness(rawSvcs, deps, healthchecks, imageLabels, err);

  if (errors.length) return { projectName, services: serviceNames, errors: sortIssues(errors), warnings: sortIssues(warnings) };

  const order = levels(edges).flat();
  const services = order.map((svc): ResolvedService => {
    const { hashInput, ...p } = partial.get(svc)!;
    const healthcheck = healthchecks.get(svc);
    return { ...p, dependsOn: deps.get(svc) ?? [], ...(healthcheck ? { healthcheck } : {}), hash: hashOf(hashInput) };
  });
  return {
    project: { name: projectName, networks, services },
    lineOf,
    projectName,
    services: order,
    errors,
    warnings: sortIssues(warnings),
  };
}

function resolveNetworks(project: string, rawNets: Raw, err: (p: P, m: string) => void, warn: (p: P, m: string) => void): ResolvedNetwork[] {
  const out: ResolvedNetwork[] = [];
  const parsed: Array<{ key: string; net: Ipv4Net; subnet: string }> = [];
  for (const [key, def] of Object.entries(rawNets)) {
    const d = isObj(def) ? def : {};
    const at: P = ['networks', key];
    const external = d.external === true;
    const mode = (typeof d.mode === 'string' ? d.mode : 'nat') as NetworkMode;
    const subnet = typeof d.subnet === 'string' ? d.subnet : '';
    const n: ResolvedNetwork = {
      key,
      name: external ? key : `${project}-${key}`,
      external,
      mode,
      subnet,
      gateway: typeof d.gateway === 'string' ? d.gateway : '',
      dhcp: d.dhcp !== false,
      dhcpStart: isObj(d.dhcp) && typeof d.dhcp.start === 'string' ? d.dhcp.start : '',
      dhcpEnd: isObj(d.dhcp) && typeof d.dhcp.end === 'string' ? d.dhcp.end : '',
      bridge: typeof d.bridge === 'string' ? d.bridge : '',
      forwardDevice: typeof d.forward_device === 'string' ? d.forward_device : '',
      domain: typeof d.domain === 'string' ? d.domain : '',
      labels: isObj(d.labels) ? (d.labels as Record<string, string>) : {},
    };
    out.push(n);
    if (external) {
      for (const k of ['mode', 'subnet', 'gateway', 'dhcp', 'bridge', 'forward_device', 'domain']) {
        if (d[k] !== undefined) warn([...at, k], 'ignored for an external network (it is used as it exists)');
      }
      continue;
    }
    if (!isNetworkName(n.name)) err(at, `network name ${quote(n.name)} is not a valid network name (at most 64 letters, digits, "-", "_", "."); shorten the project or network name`);
    if (mode === 'bridge') {
      if (!n.bridge) err([...at, 'bridge'], 'bridge mode needs bridge: the host bridge to attach to');
      continue;
    }
    if (!subnet) {
      if (typeof d.subnet !== 'string') err([...at, 'subnet'], `a ${mode} network needs a subnet (CIDR, e.g. 10.42.0.0/24)`);
      continue;
    }
    const net = parseSubnet(subnet);
    if (typeof net === 'string') {
      err([...at, 'subnet'], net);
      continue;
    }
    for (const other of parsed) {
      if (overlaps(other.net, net)) err([...at, 'subnet'], `${subnet} overlaps network "${other.key}" (${other.subnet})`);
    }
    parsed.push({ key, net, subnet });
    const inside = (ip: string, p: P, what: string) => {
      const v = parseIpv4(ip);
      if (v === undefined || !inNet(net, v)) err(p, `${what} ${ip} is not a host address inside ${subnet}`);
      return v;
    };
    if (n.gateway) inside(n.gateway, [...at, 'gateway'], 'gateway');
    if (n.dhcpStart && n.dhcpEnd) {
      const s = inside(n.dhcpStart, [...at, 'dhcp', 'start'], 'DHCP start');
      const e = inside(n.dhcpEnd, [...at, 'dhcp', 'end'], 'DHCP end');
      if (s !== undefined && e !== undefined && s > e) err([...at, 'dhcp'], `DHCP range ${n.dhcpStart}-${n.dhcpEnd} ends before it starts`);
    }
  }
  return out;
}

function dependencies(v: unknown): Dependency[] {
  if (Array.isArray(v)) {
    return v.filter((s): s is string => typeof s === 'string').map((service) => ({ service, condition: 'started', timeoutSeconds: 0 }));
  }
  if (!isObj(v)) return [];
  return Object.entries(v).map(([service, d]) => {
    const o = isObj(d) ? d : {};
    return {
      service,
      condition: asCondition(o.condition),
      timeoutSeconds: typeof o.timeout_seconds === 'number' ? o.timeout_seconds : 0,
    };
  });
}

async function resolveCloudInit(v: unknown, src: ComposeSource, at: P, err: (p: P, m: string) => void): Promise<CloudInit | undefined> {
  if (!isObj(v)) return undefined;
  const out: CloudInit = {};
  for (const [fileKey, inlineKey, field] of FILE_KEYS) {
    const inline = v[inlineKey];
    const file = v[fileKey];
    if (inline !== undefined && file !== undefined) {
      err([...at, fileKey], `set either ${inlineKey} or ${fileKey}, not both`);
      continue;
    }
    if (typeof inline === 'string') out[field] = inline;
    else if (isObj(inline)) out[field] = (field === 'userData' ? '#cloud-config\n' : '') + stringify(inline);
    if (typeof file === 'string') {
      const text = await readProjectFile(src, file, [...at, fileKey], err);
      if (text !== undefined) out[field] = text;
    }
  }
  return Object.keys(out).length ? out : undefined;
}

/**
 * A `*_file`'s text: what the client sent (vmr compose reads the files itself), else a read of the
 * daemon's host through `src.readFile`, which the core confines to paths.import (PERMISSION_DENIED
 * propagates: the request asked for a host file it may not read).
 */
async function readProjectFile(src: ComposeSource, file: string, at: P, err: (p: P, m: string) => void): Promise<string | undefined> {
  if (path.isAbsolute(file) || file.includes('\0')) {
    err(at, `"${file.slice(0, 128)}" must be a path relative to the compose file's directory`);
    return undefined;
  }
  const sent = src.files?.[file] ?? src.files?.[path.normalize(file)];
  if (sent !== undefined) {
    if (Buffer.byteLength(sent) > MAX_FILE) {
      err(at, `"${file}" is ${Buffer.byteLength(sent)} bytes; cloud-init files are limited to ${MAX_FILE} bytes`);
      return undefined;
    }
    return sent;
  }
  if (!src.readFile || !src.baseDir) {
    err(at, `"${file}" was not sent with the request: the client reads *_file files relative to the compose file and sends their contents (check that it exists, is readable and at most ${MAX_FILE} bytes)`);
    return undefined;
  }
  try {
    return await src.readFile(file, fieldPath(at), MAX_FILE);
  } catch (e) {
    if ((e as { code?: string }).code === 'PERMISSION_DENIED') throw e;
    err(at, (e as Error).message);
    return undefined;
  }
}

/** Interpolates every scalar value (not keys) in place; returns the paths changed (JSON of the path array). */
function interpolateDoc(doc: Document, env: Record<string, string>, err: (p: P, m: string) => void, warn: (p: P, m: string) => void): Set<string> {
  const seenUnset = new Set<string>();
  const changed = new Set<string>();
  const visit = (node: unknown, p: P) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        visit(pair.value, [...p, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...p, i]));
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('$')) {
      const r = interpolate(node.value, env);
      for (const m of r.errors) err(p, m);
      for (const name of r.unset) {
        if (!seenUnset.has(name)) warn(p, `variable ${name} is not set; using an empty string`);
        seenUnset.add(name);
      }
      node.value = r.value;
      changed.add(JSON.stringify(p));
    }
  };
  visit(doc.contents, []);
  return changed;
}

function lineAt(doc: Document, lc: LineCounter, p: P, atKey: boolean): number | undefined {
  let node: unknown = doc.contents;
  let keyNode: unknown;
  let last: unknown = node;
  for (const seg of p) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && (isScalar(it.key) ? it.key.value : it.key) === seg);
      if (!pair) break;
      keyNode = pair.key;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      keyNode = undefined;
      node = node.items[seg];
    } else break;
    last = atKey && keyNode ? keyNode : (node ?? keyNode);
  }
  const range = (last as Node | undefined)?.range ?? (keyNode as Node | undefined)?.range;
  return range ? lc.linePos(range[0]).line : undefined;
}

function hashOf(v: unknown): string {
  return createHash('sha256').update(canonical(v)).digest('hex').slice(0, 16);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v)) {
    return `{${Object.keys(v).filter((k) => v[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

const sortIssues = (xs: Issue[]) => xs.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || a.path.localeCompare(b.path));
const num = (v: unknown) => (typeof v === 'number' ? v : 0);
/** The replica count to act on: a valid one, else the default 1 (the schema reports the bad value). */
const replicaCount = (v: unknown) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_REPLICAS ? (v as number) : 1);
const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
