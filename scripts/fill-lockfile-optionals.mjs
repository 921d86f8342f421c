/**
 * `npm ci` refuses a lock file that lacks an entry for any optional dependency, even one for another platform.
 * The registry this project is built from serves only Linux builds of packages such as @swc/core and
 * unrs-resolver, so `npm install` leaves the macOS/Windows/other-CPU variants out of package-lock.json and a
 * clean `npm ci` then fails. This adds the missing optional entries, with the os/cpu their names declare, so
 * npm ci skips them on this platform. Run it after any `npm install` that changes the lock file:
 *   node scripts/fill-lockfile-optionals.mjs
 */
import fs from 'node:fs';
import { URL } from 'node:url';

const lockPath = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(fs.readFileSync(lockPath, 'utf8'));
const packages = lock.packages;
const OSES = ['darwin', 'win32', 'linux', 'freebsd', 'android', 'openharmony', 'sunos', 'aix', 'netbsd', 'openbsd'];
const CPUS = ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 's390x', 'riscv64', 'loong64', 'wasm32', 'mips64el'];
let added = 0;
for (const [location, entry] of Object.entries(packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const base = location === '' ? '' : `${location}/`;
    const candidates = [`${base}node_modules/${name}`, `node_modules/${name}`];
    if (candidates.some((candidate) => packages[candidate])) continue;
    const parts = name.split(/[/-]/);
    const os = OSES.find((value) => parts.includes(value));
    const cpu = CPUS.find((value) => parts.includes(value) || (value === 'arm' && parts.includes('gnueabihf')));
    if (!os && !cpu) continue;
    packages[`node_modules/${name}`] = {
      version: range.replace(/^[\^~=]/, ''),
      ...(cpu ? { cpu: [cpu] } : {}),
      ...(os ? { os: [os] } : {}),
      optional: true,
      ...(entry.dev ? { dev: true } : {}),
    };
    added++;
  }
}
const sorted = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
lock.packages = sorted;
fs.writeFileSync(lockPath, JSON.stringify(lock, null, 2) + '\n');
console.log(`added ${added} optional platform entries to package-lock.json`);
