import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, type CliIo } from '../../tools/schema/cli';
import { readManifest } from '../../gateway/edge/trusted-documents';

/** `federation-schema manifest`: the trusted documents the gateway enforces, from the client operations. */
const projectRoot = path.resolve(__dirname, '..', '..');

function cli(args: string[], cwd = projectRoot) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: {},
    cwd,
  };
  const code = run(args, io);
  return { code, stdout, stderr };
}

describe('federation-schema manifest', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'manifest-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes one entry per client operation, with the fragments it spreads, keyed by the SHA-256 of its text', () => {
    const out = path.join(dir, 'manifest.json');
    const result = cli(['manifest', '--out', out]);
    expect(result).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Wrote \d+ trusted documents/) });
    const manifest = JSON.parse(fs.readFileSync(out, 'utf8')) as {
      format: string;
      operations: { id: string; name: string; type: string; body: string }[];
    };
    expect(manifest.format).toBe('apollo-persisted-query-manifest');
    const operationFiles = fs.readdirSync(path.join(projectRoot, 'schema/operations'));
    const named = operationFiles
      .flatMap((file) => [
        ...fs
          .readFileSync(path.join(projectRoot, 'schema/operations', file), 'utf8')
          .matchAll(/^(query|mutation|subscription) (\w+)/gm),
      ])
      .map((match) => match[2]);
    expect(manifest.operations.map((operation) => operation.name).sort()).toEqual([...named].sort());
    for (const operation of manifest.operations) {
      expect(operation.id).toBe(crypto.createHash('sha256').update(operation.body).digest('hex'));
      // Every fragment it spreads travels with it, and no other.
      for (const spread of operation.body.matchAll(/\.\.\.(\w+)/g))
        expect(operation.body).toContain(`fragment ${spread[1]} on`);
    }
    // The gateway reads what the command writes.
    expect(readManifest(out).size).toBe(manifest.operations.length);
  });

  it('keeps the committed manifest up to date, and --check says when it is not', () => {
    expect(cli(['manifest', '--check']).code).toBe(0);
    const stale = path.join(dir, 'stale.json');
    fs.writeFileSync(stale, '{}');
    const result = cli(['manifest', '--check', '--out', stale]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('does not match the client operations');
  });

  it('refuses operation files that do not parse', () => {
    const operations = path.join(dir, 'operations');
    fs.mkdirSync(operations);
    fs.writeFileSync(path.join(operations, 'broken.graphql'), 'query Broken { me { id }');
    const result = cli(['manifest', '--operations', operations, '--out', '-']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('broken.graphql');
  });
});
