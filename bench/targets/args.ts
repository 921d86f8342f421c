import { parseArgs } from 'node:util';

/** The command line every baseline target takes: where to listen, which supergraph, how to sign the caller. */
export interface TargetArgs {
  port: number;
  supergraph: string;
  serviceSecret: string;
}

export function readTargetArgs(argv: string[]): TargetArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      supergraph: { type: 'string' },
      'service-secret': { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port: expected a port, got '${values.port}'`);
  if (!values.supergraph) throw new Error('--supergraph: required');
  if (!values['service-secret']) throw new Error('--service-secret: required');
  return { port, supergraph: values.supergraph, serviceSecret: values['service-secret'] };
}
