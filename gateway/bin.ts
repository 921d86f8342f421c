#!/usr/bin/env node
/**
 * `federation-gateway`: the gateway as a command (`--help` lists every flag and setting). The only part that
 * touches the real process's arguments and streams; the gateway itself is gateway/index.ts's `main`.
 */
import { loadConfig } from '../lib/config';
import { gatewayHelp, gatewayVersion, parseGatewayArgs } from './cli';

const command = parseGatewayArgs(process.argv.slice(2), process.cwd());
switch (command.kind) {
  case 'help':
    process.stdout.write(gatewayHelp());
    break;
  case 'version':
    process.stdout.write(gatewayVersion());
    break;
  case 'usage-error':
    process.stderr.write(`federation-gateway: ${command.message}\nTry federation-gateway --help\n`);
    process.exitCode = 2;
    break;
  case 'start': {
    // Required only to start, so `--help` and `--version` answer without loading Apollo and the rest.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { main } = require('./index') as typeof import('./index');
    void main(() => loadConfig(undefined, command.sources));
    break;
  }
}
