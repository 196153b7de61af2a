// DI tokens of the core. Leaf module: imports types only, so decorator metadata never forms a cycle.
export const TOKENS = {
  Config: Symbol('Config'),
  Logger: Symbol('Logger'),
  StateStore: Symbol('StateStore'),
  Contexts: Symbol('ContextService'),
  Plugins: Symbol('PluginHost'),
  Images: Symbol('ImageStore'),
  Vms: Symbol('VmActions'),
  Health: Symbol('HealthService'),
  Version: Symbol('Version'),
  Events: Symbol('EventBus'),
  Metrics: Symbol('DaemonMetrics'),
} as const;
