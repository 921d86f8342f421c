#!/usr/bin/env node
// The command. The bundle is built into dist/ by scripts/build-packages.ts; this file is committed so that the
// repository's own `npm ci` can link the command before anything is built.
try {
  require.resolve('./dist/bin.js');
} catch {
  console.error('federation-gateway is not built yet: run npm run -s build:packages');
  process.exit(2);
}
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the bundle is CommonJS
require('./dist/bin.js');
