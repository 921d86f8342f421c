/**
 * Preloaded into the gateway by `bench/subscriptions.ts` (with `--expose-gc`): SIGUSR2 runs a full garbage
 * collection, so memory is read with only live objects left, not whatever garbage the last seconds left behind.
 */
process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());
