// Debian's Chromium through playwright-core (no browser download), with the
// checks every screen gets: no console errors, and an axe scan with no
// serious or critical violations. Screenshots go to docs/screenshots/.

import AxeBuilder from "@axe-core/playwright";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { repo } from "./suite.mjs";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const shots = join(repo, "docs", "screenshots");

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/**
 * A fresh page (its own context: no shared session storage) that records
 * console errors — only those of `onlyOrigin`'s pages when given (an
 * identity provider's own pages are not ours to judge).
 */
export async function openPage(browser, { width = 1280, height = 860, onlyOrigin } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const errors = [];
  const ours = () => !onlyOrigin || page.url().startsWith(onlyOrigin);
  page.on("console", (m) => {
    if (m.type() === "error" && ours()) errors.push(m.text());
  });
  page.on("pageerror", (e) => ours() && errors.push(String(e)));
  page.consoleErrors = errors;
  /** Errors the screen expects (a 4xx/5xx the app handles shows as a failed resource). */
  page.unexpectedErrors = (allowed = []) =>
    errors.filter((e) => !allowed.some((a) => e.includes(a)));
  return page;
}

/** Axe violations of impact serious or critical on the current screen. */
export async function seriousViolations(page) {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}

export async function screenshot(page, name) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `${name}.png`) });
}
