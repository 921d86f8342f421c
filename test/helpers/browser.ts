import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium, driven by playwright-core (which ships no browser of its own). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Every request the page tried to make to a host other than 127.0.0.1 or localhost (all refused). */
  externalRequests: string[];
  close(): Promise<void>;
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

const isExternal = (href: string) => {
  const url = new URL(href);
  return (url.protocol === 'http:' || url.protocol === 'https:') && !LOCAL_HOSTS.has(url.hostname);
};

/**
 * Headless Chromium with a fresh profile, offline by construction: every request to another host is aborted and
 * recorded, so a test can assert that a page needed nothing from the internet.
 *
 * `intercept: false` for CORS tests: with a route installed, Playwright answers CORS preflights itself (so that
 * routed requests can be fulfilled), and the server's answer to them would never be seen. Other hosts then fail
 * to resolve instead, and requests to them are still recorded.
 */
export async function launchBrowser(options: { intercept?: boolean } = {}): Promise<TestBrowser> {
  const intercept = options.intercept ?? true;
  if (!fs.existsSync(CHROMIUM_PATH))
    throw new Error(
      `The browser tests need Chromium at ${CHROMIUM_PATH}. Install Debian's package: ` +
        'apt-get -o DPkg::Lock::Timeout=600 install -y chromium',
    );
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(intercept ? [] : ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1']),
    ],
  });
  const externalRequests: string[] = [];
  if (intercept)
    await context.route('**/*', async (route) => {
      const href = route.request().url();
      if (isExternal(href)) {
        externalRequests.push(href);
        await route.abort('internetdisconnected');
        return;
      }
      await route.continue();
    });
  else
    context.on('request', (request) => {
      if (isExternal(request.url())) externalRequests.push(request.url());
    });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    externalRequests,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
