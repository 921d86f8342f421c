import { parseArgs } from 'node:util';

/** The command line every baseline target takes: where to listen, which supergraph, how to sign the caller. */
export interface TargetArgs {
  port: number;
  supergraph: string;
  serviceSecret: string;
  /** Verifies the client's JWT, whose caller the baseline signs onto its subgraph requests. */
  jwtSecret: string;
  /** Hive Gateway only: which query planner (`--planner rust`: @graphql-hive/router-runtime). */
  planner: 'javascript' | 'rust';
  /** Hive Gateway only: `--inbound-dedup` turns on its inbound in-flight request deduplication. */
  inboundDedup: boolean;
}

export function readTargetArgs(argv: string[]): TargetArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      supergraph: { type: 'string' },
      'service-secret': { type: 'string' },
      'jwt-secret': { type: 'string' },
      planner: { type: 'string', default: 'javascript' },
      'inbound-dedup': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port: expected a port, got '${values.port}'`);
  if (!values.supergraph) throw new Error('--supergraph: required');
  if (!values['service-secret']) throw new Error('--service-secret: required');
  if (!values['jwt-secret']) throw new Error('--jwt-secret: required');
  const planner = values.planner;
  if (planner !== 'javascript' && planner !== 'rust') throw new Error(`--planner: expected javascript or rust, got '${planner}'`);
  return {
    port,
    supergraph: values.supergraph,
    serviceSecret: values['service-secret'],
    jwtSecret: values['jwt-secret'],
    planner,
    inboundDedup: values['inbound-dedup'],
  };
}
