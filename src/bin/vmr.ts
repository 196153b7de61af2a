#!/usr/bin/env node
import { restoreLaunchEnv } from '../cli/launchEnv.js';
import { main } from '../cli/program.js';

restoreLaunchEnv();
// No top-level await: this file is also the entry of the CommonJS bundle (scripts/bundle-cli.mjs).
void main().then((code) => { process.exitCode = code; });
