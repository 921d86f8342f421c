import type { Page } from 'playwright-core';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { adminToken, startSystem, type TestGateway, type TestSystem } from '../helpers/system';

/**
 * The explorer at GET /explorer (GraphiQL from the gateway's own bundle) and the landing page at GET /, checked
 * over HTTP and in headless Chromium with every request to another host refused: the explorer must work on a
 * plane.
 */

/** The text of the CodeMirror editor inside `selector` (GraphiQL keeps the instance on its wrapper element). */
const editorText = (page: Page, selector: string) =>
  page.$eval(`${selector} .CodeMirror`, (element) =>
    (element as unknown as { CodeMirror: { getValue(): string } }).CodeMirror.getValue(),
  );

/**
 * Replaces the editor's text and waits until GraphiQL has taken the change in: it reads the operations (and so
 * the operation name it sends) in a handler debounced by 100 ms, which also stores the query; run before that,
 * it would send the previous text's operation name.
 */
async function setEditorText(page: Page, selector: string, text: string): Promise<void> {
  await page.$eval(
    `${selector} .CodeMirror`,
    (element, value) =>
      (element as unknown as { CodeMirror: { setValue(text: string): void } }).CodeMirror.setValue(value),
    text,
  );
  if (selector === '.graphiql-query-editor')
    await page.waitForFunction((value) => localStorage.getItem('graphiql:query') === value, text);
}

/** Waits for the response pane to show a JSON answer with `data`, and returns it. */
async function waitForResponse(page: Page, previous: string): Promise<{ data?: unknown; errors?: unknown[] }> {
  await page.waitForFunction((before) => {
    const element = document.querySelector('.graphiql-response .CodeMirror') as unknown as {
      CodeMirror: { getValue(): string };
    } | null;
    const text = element?.CodeMirror.getValue() ?? '';
    return text !== before && text.trim().startsWith('{');
  }, previous);
  return JSON.parse(await editorText(page, '.graphiql-response')) as { data?: unknown; errors?: unknown[] };
}

describe('the explorer and the landing page', () => {
  let system: TestSystem;
  let base: string;
  let production: TestGateway;
  beforeAll(async () => {
    system = await startSystem('sqlite');
    base = system.gatewayUrl.replace(/\/graphql$/, '');
    production = await system.startGateway({ NODE_ENV: 'production' });
  }, 120_000);
  afterAll(async () => {
    await system?.close();
  });

  describe('over HTTP', () => {
    it('serves GraphiQL as a page whose scripts and styles are the gateway’s own, and only its own', async () => {
      const response = await fetch(`${base}/explorer`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(response.headers.get('content-security-policy')).toMatch(
        /default-src 'none'.*script-src 'self'.*connect-src 'self'/,
      );
      const page = await response.text();
      const assets = [...page.matchAll(/(?:src|href)="(explorer\/assets\/[^"]+)"/g)].map((match) => match[1]!);
      expect(assets).toEqual([expect.stringMatching(/\.css$/), expect.stringMatching(/\.js$/)]);
      expect(page).not.toMatch(/(?:src|href)="(?:https?:)?\/\//);
    });

    it('serves the bundle with its content type, gzipped when asked, cached for a year under its hashed name', async () => {
      const page = await (await fetch(`${base}/explorer`)).text();
      const script = /src="(explorer\/assets\/app-\w+\.js)"/.exec(page)![1]!;
      const stylesheet = /href="(explorer\/assets\/app-\w+\.css)"/.exec(page)![1]!;
      const js = await fetch(`${base}/${script}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(js.status).toBe(200);
      expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(js.headers.get('content-encoding')).toBe('gzip');
      expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(await js.text()).toContain('graphiql');
      const css = await fetch(`${base}/${stylesheet}`);
      expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
      const missing = await fetch(`${base}/explorer/assets/app-NOTTHERE.js`);
      expect(missing.status).toBe(404);
      expect(
        ((await missing.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code,
      ).toBe('NOT_FOUND');
    });

    it('answers GET / from a browser with a landing page that links to the explorer', async () => {
      const response = await fetch(`${base}/`, { headers: { accept: 'text/html' } });
      expect(response.status).toBe(200);
      expect(await response.text()).toMatch(/<a id="explorer-link" href="explorer">/);
    });

    it('in production has no explorer, and answers GET / with where the endpoint is instead of a CSRF error', async () => {
      const productionBase = production.url.replace(/\/graphql$/, '');
      expect((await fetch(`${productionBase}/explorer`)).status).toBe(404);
      for (const accept of ['text/html', 'application/json', '*/*']) {
        const response = await fetch(`${productionBase}/`, { headers: { accept } });
        expect(response.status).toBe(200);
        const body = (await response.json()) as { graphql: string; explorer: string };
        expect(body.graphql).toMatch(/^POST \/graphql/);
        expect(body.explorer).toMatch(/disabled.*EXPLORER=true/);
      }
    });
  });

  describe('in Chromium, with the internet out of reach', () => {
    let browser: TestBrowser;
    beforeAll(async () => {
      browser = await launchBrowser();
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
    });

    it('completes fields from the schema, runs a query, and sends the token for fields that need one', async () => {
      const { page, externalRequests } = browser;
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      page.on('console', (message) => {
        // The 401 is the refused token below, on purpose.
        if (message.type() === 'error' && !message.text().includes('status of 401')) problems.push(message.text());
      });
      await page.goto(`${base}/explorer`);
      await page.locator('.graphiql-query-editor .CodeMirror').waitFor();

      // Typed as a person would: the hint list comes from the introspected schema.
      await page.locator('.graphiql-query-editor .CodeMirror').click();
      await page.keyboard.press('Control+A');
      await page.keyboard.press('Delete');
      await page.keyboard.type('{ us');
      const hints = page.locator('.CodeMirror-hints .CodeMirror-hint');
      await hints.first().waitFor();
      expect(await hints.allTextContents()).toEqual(expect.arrayContaining(['users', 'user']));
      await page.keyboard.press('Escape');

      const query = '{ users(first: 2) { edges { node { id name email } } } }';
      await setEditorText(page, '.graphiql-query-editor', query);
      await page.locator('.graphiql-query-editor .CodeMirror').click();
      await page.keyboard.press('Control+Enter');
      const anonymous = await waitForResponse(page, '');
      type Users = { users: { edges: { node: { id: string; name: string; email: string | null } }[] } };
      const anonymousUsers = (anonymous.data as Users).users.edges.map((edge) => edge.node);
      expect(anonymousUsers).toHaveLength(2);
      // Email is for the user themself or an admin.
      expect(anonymousUsers.map((user) => user.email)).toEqual([null, null]);

      await page.locator('#token').fill(adminToken());
      const before = await editorText(page, '.graphiql-response');
      await page.locator('.graphiql-execute-button').click();
      const asAdmin = await waitForResponse(page, before);
      expect(asAdmin.errors).toBeUndefined();
      const emails = (asAdmin.data as Users).users.edges.map((edge) => edge.node.email);
      expect(emails).toEqual([expect.stringContaining('@'), expect.stringContaining('@')]);

      // The headers editor has the last word over the token field.
      await page.getByRole('button', { name: 'Headers' }).click();
      const headersEditor = '.graphiql-editor-tool .graphiql-editor:not(.hidden)';
      await page.locator(`${headersEditor} .CodeMirror`).waitFor();
      await setEditorText(page, headersEditor, '{ "Authorization": "Bearer not-a-token" }');
      const beforeHeaders = await editorText(page, '.graphiql-response');
      await page.locator('.graphiql-execute-button').click();
      const refused = await waitForResponse(page, beforeHeaders);
      expect(refused.errors).toEqual([
        expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) }),
      ]);

      expect(externalRequests).toEqual([]);
      expect(problems).toEqual([]);
    }, 60_000);

    it('shows the landing page’s link to the explorer when Apollo Sandbox cannot load', async () => {
      const { page, externalRequests } = browser;
      externalRequests.length = 0;
      await page.goto(`${base}/`);
      await page.getByText('Apollo Sandbox cannot be loaded').waitFor();
      // The one thing it asked the internet for was Sandbox itself.
      expect(externalRequests).toEqual([
        expect.stringMatching(/^https:\/\/embeddable-sandbox\.cdn\.apollographql\.com\//),
      ]);
      await page.locator('#sandbox-status a').click();
      await page.waitForURL(`${base}/explorer`);
      await page.locator('.graphiql-query-editor .CodeMirror').waitFor();
    }, 60_000);
  });
});
