import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../lib/paths';

/**
 * The offline explorer: one self-contained page (no CDN, no internet), served at GET /explorer. Apollo Sandbox
 * on GET / is richer but loads from the internet; this works on a plane.
 */
export const explorerHtml = fs.readFileSync(path.join(projectRoot, 'gateway', 'explorer.html'), 'utf8');
