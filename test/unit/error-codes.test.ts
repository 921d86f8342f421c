import fs from 'node:fs';
import path from 'node:path';
import { ERROR_CODES } from '../../lib/errors';

/** The README's table of error codes is the registry's, row for row, with the same HTTP status. */
describe('the error code registry', () => {
  const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Error codes'));
  const rows = new Map(
    [...section.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((match) => [match[1]!, Number(match[2])] as const),
  );

  it('is listed in the README with each code and its HTTP status', () => {
    expect(Object.fromEntries(rows)).toEqual(
      Object.fromEntries(Object.entries(ERROR_CODES).map(([code, { status }]) => [code, status])),
    );
  });

  it('gives every rejection before execution a 4xx, and only INTERNAL_SERVER_ERROR a 500', () => {
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      if (status >= 500) expect(['INTERNAL_SERVER_ERROR', 'SERVICE_UNAVAILABLE']).toContain(code);
    }
  });
});
