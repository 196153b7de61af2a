// The launcher (the shell line of scripts/cli-loader.cjs) starts Node without NODE_EXTRA_CA_CERTS; the CLI gives it back to the
// programs it runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { restoreLaunchEnv, SAVED_CA_CERTS } from '../../src/cli/launchEnv.js';

test('the saved NODE_EXTRA_CA_CERTS is put back, and the carrier removed', () => {
  const env: NodeJS.ProcessEnv = { [SAVED_CA_CERTS]: '/etc/corp-ca.pem', PATH: '/bin' };
  restoreLaunchEnv(env);
  assert.deepEqual(env, { NODE_EXTRA_CA_CERTS: '/etc/corp-ca.pem', PATH: '/bin' });
});

test('an environment the launcher did not touch stays as it is', () => {
  const env: NodeJS.ProcessEnv = { NODE_EXTRA_CA_CERTS: '/etc/other.pem' };
  restoreLaunchEnv(env);
  assert.deepEqual(env, { NODE_EXTRA_CA_CERTS: '/etc/other.pem' });
});
