// The VMCompose format as a JSON Schema (draft 2020-12 subset). It is both what editors get
// (schemas/vmcompose.schema.json is this object, kept equal by a test) and what the validator checks.
export const COMPOSE_API_VERSION = 'vmregistry.io/v1alpha1';

export interface Schema {
  type?: 'object' | 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'null';
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  propertyNames?: Schema;
  items?: Schema;
  maxItems?: number;
  uniqueItems?: boolean;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  default?: unknown;
  oneOf?: Schema[];
  $ref?: string;
}

const NAME = '^[A-Za-z0-9][A-Za-z0-9_.-]*$';
const str = (description: string, extra: Partial<Schema> = {}): Schema => ({ type: 'string', description, ...extra });
const labels: Schema = {
  type: 'object',
  description: 'Free-form labels recorded in the VM metadata.',
  additionalProperties: { type: 'string' },
};

export const composeSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://vmregistry.io/schemas/vmcompose.schema.json',
  title: 'VMCompose',
  description: 'A multi-VM project for vmregistry (vmr compose). Strings may use ${VAR}, ${VAR:-default}, ${VAR:?error} and $$.',
  type: 'object',
  required: ['api_version', 'kind', 'services'],
  additionalProperties: false,
  properties: {
    api_version: { type: 'string', enum: [COMPOSE_API_VERSION], description: 'Format version.' },
    kind: { type: 'string', const: 'VMCompose' },
    name: str('Project name; overridden by the request. Lowercase letters, digits, "-" and "_".', {
      pattern: '^[a-z0-9][a-z0-9_-]*$',
    }),
    networks: {
      type: 'object',
      description: 'Networks of the project, created as <project>-<name> unless external.',
      propertyNames: { type: 'string', pattern: NAME },
      additionalProperties: { $ref: '#/$defs/network' },
    },
    services: {
      type: 'object',
      description: 'The VMs of the project; each service becomes <project>-<service>-<n> for n in 1..replicas.',
      propertyNames: { type: 'string', pattern: NAME },
      additionalProperties: { $ref: '#/$defs/service' },
    },
  },
  $defs: {
    network: {
      type: 'object',
      additionalProperties: false,
      properties: {
        external: { type: 'boolean', description: 'Use an existing network of this exact name; never created or removed.' },
        mode: { type: 'string', enum: ['nat', 'isolated', 'routed', 'bridge'], default: 'nat' },
        subnet: str('IPv4 CIDR, e.g. 10.42.0.0/24; required except in bridge mode and for external networks.'),
        gateway: str('Default: the first host address of the subnet.'),
        dhcp: {
          description: 'true (default: the upper half of the subnet), false, or an explicit range.',
          oneOf: [
            { type: 'boolean' },
            {
              type: 'object',
              additionalProperties: false,
              required: ['start', 'end'],
              properties: { start: str('First leased address.'), end: str('Last leased address.') },
            },
          ],
        },
        bridge: str('Host bridge to attach to (bridge mode).'),
        forward_device: str('Host device NAT/routed traffic leaves by.'),
        domain: str('DNS domain of the network.'),
        labels,
      },
    },
    service: {
      type: 'object',
      additionalProperties: false,
      required: ['image'],
      properties: {
        image: str('Image reference, e.g. localhost:5000/demo/debian:12.'),
        resources: {
          type: 'object',
          additionalProperties: false,
          description: 'Unset values come from the image\'s VMFile.',
          properties: {
            memory_mb: { type: 'integer', minimum: 64, maximum: 1048576 },
            vcpu_count: { type: 'integer', minimum: 1, maximum: 256 },
            disk_size_gb: { type: 'integer', minimum: 0, maximum: 65536 },
          },
        },
        networks: {
          description: 'Names from the top-level networks (one network per VM for now), as a list or as a mapping ' +
            'with per-network settings. Empty: the hypervisor default.',
          oneOf: [
            { type: 'array', items: { type: 'string' }, maxItems: 1 },
            {
              type: 'object',
              propertyNames: { type: 'string', pattern: NAME },
              additionalProperties: {
                oneOf: [
                  { type: 'null' },
                  {
                    type: 'object',
                    additionalProperties: false,
                    properties: {
                      ipv4_address: str('Fixed address: a DHCP reservation for the VM\'s MAC in this (project) network. Not with replicas > 1.'),
                    },
                  },
                ],
              },
            },
          ],
        },
        mac_address: str('MAC of the VM\'s interface, e.g. 52:54:00:12:34:56 (unicast). Default: generated (derived from project/service when ipv4_address is set). Not with replicas > 1.'),
        cloud_init: {
          type: 'object',
          additionalProperties: false,
          description: 'NoCloud seed. Inline text or files relative to the compose file; not both for one part.',
          properties: {
            user_data: {
              description: 'Text, or a mapping written out as #cloud-config YAML.',
              oneOf: [{ type: 'string' }, { type: 'object' }],
            },
            meta_data: { oneOf: [{ type: 'string' }, { type: 'object' }] },
            network_config: { oneOf: [{ type: 'string' }, { type: 'object' }] },
            user_data_file: str('Path relative to the compose file; must stay inside its directory.'),
            meta_data_file: str('Path relative to the compose file; must stay inside its directory.'),
            network_config_file: str('Path relative to the compose file; must stay inside its directory.'),
          },
        },
        ephemeral: { type: 'boolean', default: false, description: 'Transient VM: gone (disk included) once it stops.' },
        replicas: { type: 'integer', minimum: 0, maximum: 64, default: 1 },
        labels,
        depends_on: {
          description: 'Services that must be up first: a list (condition started) or a mapping with conditions.',
          oneOf: [
            { type: 'array', items: { type: 'string' }, uniqueItems: true },
            {
              type: 'object',
              additionalProperties: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  condition: {
                    type: 'string', enum: ['started', 'ip_assigned', 'ssh_ready', 'cloud_init_done', 'service_healthy'], default: 'started',
                    description: 'started: the VM runs; ip_assigned: it has an address; ssh_ready: port 22 sends the SSH banner; ' +
                      'cloud_init_done: cloud-init finished (guest agent); service_healthy: its healthcheck passed.',
                  },
                  timeout_seconds: { type: 'integer', minimum: 1, maximum: 86400 },
                },
              },
            },
          ],
        },
        healthcheck: {
          type: 'object',
          additionalProperties: false,
          required: ['test'],
          description: 'A test run inside the VM through the guest agent (qemu-guest-agent); exit 0 is healthy.',
          properties: {
            test: {
              description: '["CMD", argv…], ["CMD-SHELL", "shell command"], or a string run by /bin/sh -c.',
              oneOf: [{ type: 'array', items: { type: 'string' } }, { type: 'string' }],
            },
            interval: { description: 'Between tests: a duration (30s, 1m30s, 500ms) or seconds. Default 5s.', oneOf: [{ type: 'string' }, { type: 'number' }] },
            timeout: { description: 'One test may take this long. Default 30s.', oneOf: [{ type: 'string' }, { type: 'number' }] },
            retries: { type: 'integer', minimum: 1, maximum: 1000, default: 3, description: 'Consecutive failures before unhealthy.' },
            start_period: { description: 'Failures this soon after boot do not count. Default 0s.', oneOf: [{ type: 'string' }, { type: 'number' }] },
          },
        },
      },
    },
  },
} satisfies Schema & Record<string, unknown>;

export interface SchemaIssue {
  path: (string | number)[];
  message: string;
  /** The problem is the key itself (unknown key), not its value. */
  atKey?: boolean;
}

const typeOf = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' && Number.isInteger(v) ? 'integer' : typeof v;

const typeOk = (t: Schema['type'], v: unknown) =>
  t === undefined || typeOf(v) === t || (t === 'number' && typeOf(v) === 'integer');

const article = (t: string) => (t === 'array' ? 'a list' : t === 'object' ? 'a mapping' : t === 'null' ? 'empty' : `a ${t === 'integer' ? 'whole number' : t}`);

/**
 * Checks `value` against the schema, collecting every problem. Strings at `coercible` paths (results of
 * interpolation, e.g. `memory_mb: "${MEM:-512}"`) are converted in place where the schema wants a number or boolean.
 */
export function checkSchema(value: unknown, coercible: Set<string> = new Set(), schema: Schema = composeSchema,
  root: Record<string, unknown> = composeSchema): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  walk(value, schema, [], issues, root, coercible);
  return issues;
}

function coerce(v: unknown, t: Schema['type']): unknown {
  if (typeof v !== 'string') return v;
  if ((t === 'integer' || t === 'number') && /^-?\d+(\.\d+)?$/.test(v.trim())) return Number(v);
  if (t === 'boolean' && (v === 'true' || v === 'false')) return v === 'true';
  return v;
}

function resolve(s: Schema, root: Record<string, unknown>): Schema {
  if (!s.$ref) return s;
  const parts = s.$ref.replace(/^#\//, '').split('/');
  let cur: unknown = root;
  for (const p of parts) cur = (cur as Record<string, unknown>)[p];
  return cur as Schema;
}

type Coercible = Set<string>;

/** Returns the value as checked (coerced where allowed), so containers can store it back. */
function walk(v: unknown, s0: Schema, path: (string | number)[], out: SchemaIssue[], root: Record<string, unknown>,
  coercible: Coercible): unknown {
  const s = resolve(s0, root);
  if (s.type && !typeOk(s.type, v) && coercible.has(JSON.stringify(path))) v = coerce(v, s.type);
  if (s.oneOf) {
    const alt = s.oneOf.find((a) => typeOk(resolve(a, root).type, v));
    if (!alt) {
      const types = [...new Set(s.oneOf.map((a) => article(resolve(a, root).type ?? 'value')))];
      out.push({ path, message: `must be ${types.join(' or ')}, got ${article(typeOf(v))}` });
      return v;
    }
    return walk(v, alt, path, out, root, coercible);
  }
  if (!typeOk(s.type, v)) {
    out.push({ path, message: `must be ${article(s.type!)}, got ${v === null ? 'nothing (null)' : article(typeOf(v))}` });
    return v;
  }
  if (s.const !== undefined && v !== s.const) out.push({ path, message: `must be ${JSON.stringify(s.const)}` });
  if (s.enum && !s.enum.includes(v)) {
    out.push({ path, message: `must be one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}, got ${JSON.stringify(v)}` });
  }
  if (typeof v === 'string' && s.pattern && !new RegExp(s.pattern).test(v)) {
    out.push({ path, message: `"${v}" does not match ${s.pattern}` });
  }
  if (typeof v === 'number') {
    if (s.minimum !== undefined && v < s.minimum) out.push({ path, message: `must be at least ${s.minimum}, got ${v}` });
    if (s.maximum !== undefined && v > s.maximum) out.push({ path, message: `must be at most ${s.maximum}, got ${v}` });
  }
  if (Array.isArray(v)) {
    if (s.maxItems !== undefined && v.length > s.maxItems) {
      out.push({ path, message: `may hold at most ${s.maxItems} item(s), got ${v.length}` });
    }
    if (s.uniqueItems) {
      v.forEach((x, i) => {
        if (v.indexOf(x) !== i) out.push({ path: [...path, i], message: `${JSON.stringify(x)} is listed twice` });
      });
    }
    if (s.items) v.forEach((x, i) => { v[i] = walk(x, s.items!, [...path, i], out, root, coercible); });
  }
  if (typeOf(v) === 'object') {
    const obj = v as Record<string, unknown>;
    for (const r of s.required ?? []) {
      if (obj[r] === undefined) out.push({ path: [...path, r], message: 'is required' });
    }
    for (const [k, val] of Object.entries(obj)) {
      if (s.propertyNames) {
        const before = out.length;
        walk(k, s.propertyNames, [...path, k], out, root, new Set());
        for (const iss of out.slice(before)) {
          iss.atKey = true;
          iss.message = `name ${iss.message}`;
        }
      }
      const sub = s.properties?.[k];
      if (sub) obj[k] = walk(val, sub, [...path, k], out, root, coercible);
      else if (s.additionalProperties === false) {
        const known = Object.keys(s.properties ?? {});
        out.push({ path: [...path, k], atKey: true, message: `unknown key${suggest(k, known)}; known keys: ${known.join(', ')}` });
      } else if (typeof s.additionalProperties === 'object') obj[k] = walk(val, s.additionalProperties, [...path, k], out, root, coercible);
    }
  }
  return v;
}

function suggest(k: string, known: string[]): string {
  const close = known.find((c) => distance(c, k) <= 2);
  return close ? ` (did you mean "${close}"?)` : '';
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}
