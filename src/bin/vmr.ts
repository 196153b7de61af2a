#!/usr/bin/env node
import { restoreLaunchEnv } from '../cli/launchEnv.js';
import { main } from '../cli/program.js';

restoreLaunchEnv();
// No top-level await: this file is also the entry of the CommonJS bundle (scripts/bundle-cli.mjs).
void main().then((code) => {
  process.exitCode = code;
  // Done and nothing left to write: leave now instead of through Node's teardown of a finished process (the heap
  // and the isolate freed piece by piece, a few ms of every `vmr ps`, issue 17). stdout and stderr are synchronous
  // for files, pipes and terminals on Linux; where a write is still queued, the process ends as usual once it drains.
  if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) process.exit();
});
