import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSystem, TEST_JWT_SECRET, type TestSystem } from '../helpers/system';

/**
 * Every ```sh / ```bash block of the README runs as pasted, against a stack this test starts: the three
 * subgraphs and the gateway, in process, on ports the OS picks (so it never collides with a stack someone is
 * running on 4000-4003). URLs in the blocks that name the default ports (`127.0.0.1:4000` or
 * `localhost:4000`, 4001-4003 likewise) are rewritten to the test's ports; nothing else is changed.
 *
 * The blocks run in order in one bash session (`set -eo pipefail`), as a reader pastes them into one terminal,
 * so a variable one block sets (a token) is there for the next. A block passes when every command in it
 * exits 0 and every JSON value it prints (each `curl` answer) has no top-level `errors`.
 *
 * A block that cannot run here (installing, the long-running `npm start`, docker, kubectl, anything that
 * rewrites files of the checkout) is marked in the README by an HTML comment on the line before its fence:
 * `<!-- not-run: why -->`. A block whose point is to show an error says so with `<!-- errors-expected: why -->`
 * (it must still exit 0). Every other block, including ones added later, runs.
 */
const projectRoot = path.resolve(__dirname, '..', '..');
const readme = fs.readFileSync(path.join(projectRoot, 'README.md'), 'utf8');

interface ShellBlock {
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  notRun?: string;
  errorsExpected?: string;
}

export function shellBlocks(markdown: string): ShellBlock[] {
  const lines = markdown.split('\n');
  const blocks: ShellBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[index]!);
    if (!open) continue;
    const [, indent, fence, language] = open;
    let end = index + 1;
    while (end < lines.length && !lines[end]!.trimStart().startsWith(fence!)) end++;
    if (language === 'sh' || language === 'bash') {
      let previous = index - 1;
      while (previous >= 0 && lines[previous]!.trim() === '') previous--;
      const marker = /^\s*<!--\s*(not-run|errors-expected):\s*(.*?)\s*-->\s*$/.exec(lines[previous] ?? '');
      blocks.push({
        line: index + 1,
        code: lines
          .slice(index + 1, end)
          .map((line) => (line.startsWith(indent!) ? line.slice(indent!.length) : line))
          .join('\n'),
        ...(marker?.[1] === 'not-run' ? { notRun: marker[2] } : {}),
        ...(marker?.[1] === 'errors-expected' ? { errorsExpected: marker[2] } : {}),
      });
    }
    index = end;
  }
  return blocks;
}

/** Every JSON object or array in a block's output (curl prints answers back to back, without newlines). */
export function jsonValues(output: string): unknown[] {
  const values: unknown[] = [];
  let index = 0;
  while (index < output.length) {
    const char = output[index]!;
    if (char !== '{' && char !== '[') {
      index++;
      continue;
    }
    let depth = 0;
    let end = index;
    for (; end < output.length; end++) {
      const current = output[end];
      if (current === '"') {
        for (end++; end < output.length && output[end] !== '"'; end++) if (output[end] === '\\') end++;
      } else if (current === '{' || current === '[') depth++;
      else if (current === '}' || current === ']') {
        if (--depth === 0) break;
      }
    }
    try {
      values.push(JSON.parse(output.slice(index, end + 1)));
      index = end + 1;
    } catch {
      index++;
    }
  }
  return values;
}

const topLevelErrors = (value: unknown): unknown[] =>
  Array.isArray(value)
    ? value.flatMap(topLevelErrors)
    : value !== null && typeof value === 'object' && Array.isArray((value as { errors?: unknown }).errors)
      ? ((value as { errors: unknown[] }).errors)
      : [];

const blocks = shellBlocks(readme);
const runnable = blocks.filter((block) => block.notRun === undefined);

describe('the README, pasted', () => {
  let system: TestSystem;
  let dir: string;
  const results = new Map<ShellBlock, { ran: boolean; exitCode?: number; stdout: string; stderr: string }>();

  beforeAll(async () => {
    system = await startSystem('sqlite');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'readme-'));
    const ports: Record<string, string> = {
      '4000': new URL(system.gatewayUrl).port,
      '4001': new URL(system.subgraphs.users.url).port,
      '4002': new URL(system.subgraphs.orders.url).port,
      '4003': new URL(system.subgraphs.inventory.url).port,
    };
    const driver = ['set -eo pipefail'];
    runnable.forEach((block, index) => {
      const code = block.code.replace(/\b(localhost|127\.0\.0\.1):(400[0-3])\b/g, (_, host, port) => `${host}:${ports[port]}`);
      fs.writeFileSync(path.join(dir, `block-${index}.sh`), `${code}\n`);
      driver.push(
        `exec >"${dir}/out-${index}" 2>"${dir}/err-${index}"`,
        `source "${dir}/block-${index}.sh"`,
        `echo 0 >"${dir}/rc-${index}"`,
      );
    });
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('bash', ['-c', driver.join('\n')], {
        cwd: projectRoot,
        // The stack signs and checks tokens with the test secret: `npm run -s token` must sign with it too.
        env: { ...process.env, JWT_SECRET: TEST_JWT_SECRET, NO_COLOR: '1' },
        stdio: 'ignore',
        timeout: 150_000,
      });
      child.once('error', reject);
      child.once('exit', (code) => resolve(code));
    });
    const read = (file: string) => (fs.existsSync(path.join(dir, file)) ? fs.readFileSync(path.join(dir, file), 'utf8') : '');
    runnable.forEach((block, index) => {
      const finished = fs.existsSync(path.join(dir, `rc-${index}`));
      const started = fs.existsSync(path.join(dir, `out-${index}`));
      results.set(block, {
        ran: started,
        ...(finished ? { exitCode: 0 } : started ? { exitCode: exitCode ?? -1 } : {}),
        stdout: read(`out-${index}`),
        stderr: read(`err-${index}`),
      });
    });
  }, 180_000);

  afterAll(async () => {
    await system?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('has shell blocks, and every one it does not run says why', () => {
    expect(runnable.length).toBeGreaterThan(0);
    for (const block of blocks) if (block.notRun !== undefined) expect(block.notRun).not.toBe('');
  });

  for (const block of blocks) {
    const title = `README line ${block.line}: ${block.code.split('\n')[0]!.slice(0, 70)}`;
    if (block.notRun !== undefined) {
      // Listed by jest as skipped, with the README's reason.
      it.skip(`${title} (not run: ${block.notRun})`, () => undefined);
      continue;
    }
    it(title, () => {
      const result = results.get(block)!;
      if (!result.ran) throw new Error('did not run: an earlier block failed');
      if (result.exitCode !== 0)
        throw new Error(`exited ${result.exitCode}\n--- stderr\n${result.stderr}\n--- stdout\n${result.stdout}`);
      if (block.errorsExpected !== undefined) return;
      const errors = jsonValues(result.stdout).flatMap(topLevelErrors);
      expect({ errors, stdout: result.stdout.slice(0, 2000) }).toEqual({ errors: [], stdout: expect.any(String) });
    });
  }
});
