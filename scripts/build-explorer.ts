/**
 * `npm run build`'s second step: the explorer's browser bundle into dist/explorer/, next to the compiled gateway
 * that serves it (see gateway/explorer/build.ts).
 */
import { buildExplorerAssets, builtAssetsDir } from '../gateway/explorer/build';

buildExplorerAssets(builtAssetsDir, { replace: true }).catch((error: unknown) => {
  console.error(`explorer bundle: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
