// An example third-party plugin, written from the README's plugin guide alone.
// It provides the auth port with a toy provider: any user whose password is the configured
// secret logs in; sessions live in the daemon's state store (the `vmregistry.state.v1` port).
import { definePlugin, authPort, statePort, NotImplementedError, UnauthenticatedError } from 'vmregistry/plugin-api';

/** @type {import('vmregistry/plugin-api').PluginDefinition<{ greeting: string; secret: string }>} */
export default definePlugin({
  id: 'hello',
  description: 'A toy auth provider that greets',
  apiVersion: '^1.0.0',
  provides: [authPort],
  requires: [statePort],
  configSchema: {
    type: 'object',
    properties: {
      greeting: { type: 'string', default: 'hello' },
      secret: { type: 'string', default: 'open-sesame' },
    },
  },
  init({ config, deps, log }) {
    const sessions = deps.get(statePort).namespace('hello-sessions');
    log.info({ greeting: config.greeting }, 'hello plugin ready');
    // Typed by its port, so `npm run build` (tsc --checkJs) holds it to the AuthProvider interface.
    /** @type {import('vmregistry/plugin-api').AuthProvider} */
    const auth = {
      async login(input, ctx) {
        if (input.password !== config.secret) throw new UnauthenticatedError('wrong password (hint: it is in the plugin config)');
        await sessions.set(ctx.context.name, { username: input.username });
        return { accessToken: 'not-a-real-token', tokenType: 'Bearer', expiresAt: '', username: input.username,
          server: 'hello', message: `${config.greeting}, ${input.username}!` };
      },
      async logout(_server, ctx) {
        return { message: (await sessions.delete(ctx.context.name)) ? 'goodbye' : 'not logged in' };
      },
      async register() {
        throw new NotImplementedError('the hello plugin cannot register users');
      },
      async registryCredentials() {
        return undefined;
      },
      async health() {
        return { name: 'auth', status: 'SERVING', message: `${config.greeting} from the hello plugin`, latencyMs: 0 };
      },
    };
    return { implementations: { [authPort.id]: auth }, shutdown: () => log.info('hello plugin stopped') };
  },
});
