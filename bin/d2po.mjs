#!/usr/bin/env node
// The CLI runs the TypeScript sources through tsx, so there is no build output to go stale.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
// User code that timed out may still hold a timer or a socket: exit without waiting for it.
setTimeout(() => process.exit(), 1000).unref();
