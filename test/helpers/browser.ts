import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (`scripts/lib/chromium.sh` installs it); Playwright's own browser download does not work here. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * The flags this machine needs: no sandbox (tests run as root), no GPU, and no background networking,
 * update or sync traffic (the network is closed, and Chromium would retry those connections endlessly).
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Headless Debian Chromium driven by playwright-core. Each launch gets a fresh, empty profile: Playwright
 * creates its own --user-data-dir in the temp directory and deletes it on close (it refuses one in `args`).
 * Fails, never skips, when Chromium is missing.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's Chromium with "bash scripts/lib/chromium.sh" (apt-get install -y chromium), or run the tests with "npm test", which does.`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, chromiumSandbox: false, args: CHROMIUM_ARGS });
}
