// DI tokens of the core. Leaf module: imports types only, so decorator metadata never forms a cycle.
export const TOKENS = {
  Config: Symbol('Config'),
  Logger: Symbol('Logger'),
  StateStore: Symbol('StateStore'),
  Contexts: Symbol('ContextService'),
  Plugins: Symbol('PluginHost'),
  /** The PortBindings table the PluginHost fills. */
  Ports: Symbol('PortBindings'),
  /** PortSlot<Hypervisor> / PortSlot<RegistryClient>: the plugin ports core services use, resolved per call. */
  HypervisorSlot: Symbol('HypervisorSlot'),
  RegistrySlot: Symbol('RegistrySlot'),
  ImageService: Symbol('ImageService'),
  Images: Symbol('ImageStore'),
  Vms: Symbol('VmActions'),
  Health: Symbol('HealthService'),
  Version: Symbol('Version'),
  Events: Symbol('EventBus'),
  Metrics: Symbol('DaemonMetrics'),
} as const;
