// The response shapes the CLI renders, as @grpc/proto-loader hands them over with the contract's
// loader options (camelCase fields, int64 as decimal strings, enums as names, defaults filled in).

export interface Progress {
  phase: string;
  item: string;
  current: string;
  total: string;
  unit: string;
  message: string;
}

export interface PullImageResponse { reference: string; digest: string; size: string; message: string; transferred: string }
export interface PushImageResponse { reference: string; digest: string; size: string; transferred: string; message: string }
export interface ExportImageResponse { outputPath: string; digest: string; size: string }
export interface ImportImageResponse { reference: string; digest: string; size: string }

export interface ImageOperationEvent {
  event?: 'progress' | 'pull' | 'push' | 'export' | 'import';
  progress?: Progress | null;
  pull?: PullImageResponse | null;
  push?: PushImageResponse | null;
  export?: ExportImageResponse | null;
  import?: ImportImageResponse | null;
}

export interface ImageInfo {
  reference: string; repository: string; tag: string; digest: string; size: string; created: string;
  name: string; description: string; author: string; labels: Record<string, string>;
  diskFormat: string; architecture: string; diskSize: string;
  /** Absent from daemons before issue 20. */
  sourceFormat?: string;
}

export interface ValidationIssue { path: string; message: string; line: number }

export interface ContextInfo {
  name: string; description: string; registryUrl: string; authServer: string; authClientId: string;
  libvirtUri: string; insecureRegistry: boolean; current: boolean; created: string;
}

export interface VMNetworkInfo { name: string; mac: string; interfaceType: string; ipAddresses: string[] }

export interface VMProcessInfo {
  vmId: string; name: string; status: string; image: string; created: string; uptime: string;
  networks: VMNetworkInfo[]; memoryMb: number; vcpuCount: number; labels: Record<string, string>;
}

export interface VMInfo {
  vmId: string; name: string; status: string; image: string; created: string; memoryMb: number; vcpuCount: number;
  imageDigest: string; ephemeral: boolean; labels: Record<string, string>; composeProject: string; composeService: string;
}

export interface NetworkInfo {
  name: string; uuid: string; active: boolean; persistent: boolean; autostart: boolean; mode: string; bridge: string;
  subnet: string; gateway: string; dhcpStart: string; dhcpEnd: string; forwardDevice: string; domain: string; vmCount: number;
}

export interface ComposeServiceStatus {
  service: string; vmName: string; status: string; action: string; ipAddresses: string[]; image: string;
  /** Additive: '' from older daemons and for services without a healthcheck. */
  health?: string;
}

export interface ComponentHealth {
  name: string; status: string; message: string; latencyMs: string; details: Record<string, string>; plugin: string;
}

export interface HealthCheckResponse { status: string; version: string; components: ComponentHealth[]; context: string }

export interface LoginResponse {
  accessToken: string; tokenType: string; expiresAt: string; username: string; server: string; message: string;
  verificationUri: string; verificationUriComplete: string; userCode: string; deviceCode: string;
  interval: number; pending: boolean;
}
