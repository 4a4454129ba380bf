// `make bench-web`: the learner bundle's size (gzip) and, in Chromium against
// the real suite, the time from the SSE chunk carrying the first token to the
// frame that paints it (performance marks set by the conversation screen).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { launch, openPage } from "./browser.mjs";
import { say, signIn, startConversation } from "./flows.mjs";
import { startSuite, webDist } from "./suite.mjs";

const TURNS = Number(process.env.BENCH_TURNS ?? 15);
const BUNDLE_LIMIT_KB = 150;
const PAINT_LIMIT_MS = 16;

function bundle() {
  const index = readFileSync(join(webDist, "index.html"), "utf8");
  // What a learner's first load fetches: the entry script and stylesheet.
  const initial = [...index.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
  const size = (f) => gzipSync(readFileSync(join(webDist, f)), { level: 9 }).length;
  const learner = initial.reduce((n, f) => n + size(f), 0);
  const lazy = readdirSync(join(webDist, "assets"))
    .map((f) => `assets/${f}`)
    .filter((f) => !initial.includes(f) && f.endsWith(".js"))
    .map((f) => ({ file: f, gzip: size(f) }));
  return { learner, initial, lazy };
}

const b = bundle();
console.log(`learner bundle (initial JS + CSS, gzip -9): ${(b.learner / 1024).toFixed(1)} KB  [target ≤ ${BUNDLE_LIMIT_KB} KB] ${b.learner / 1024 <= BUNDLE_LIMIT_KB ? "OK" : "OVER"}`);
for (const l of b.lazy) console.log(`  loaded on demand: ${l.file} ${(l.gzip / 1024).toFixed(1)} KB`);

const suite = await startSuite({ chunkDelayMs: 20 });
const browser = await launch();
try {
  const page = await openPage(browser);
  await signIn(page, suite.url, "Bench");
  await startConversation(page);
  const samples = [];
  for (let i = 0; i < TURNS; i++) {
    await say(page, `Turn ${i}: could you tell me more about it, please?`);
    const ms = await page.evaluate(() => {
      const bytes = performance.getEntriesByName("fe:first-delta-byte");
      const paints = performance.getEntriesByName("fe:first-token-painted");
      const byte = bytes[bytes.length - 1];
      const paint = paints[paints.length - 1];
      return byte && paint && paint.startTime >= byte.startTime ? paint.startTime - byte.startTime : null;
    });
    if (ms !== null) samples.push(ms);
  }
  samples.sort((a, b) => a - b);
  const pct = (p) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))];
  console.log(
    `first SSE byte → first token painted, ${samples.length} turns: median ${pct(50).toFixed(1)} ms, p90 ${pct(90).toFixed(1)} ms, max ${samples[samples.length - 1].toFixed(1)} ms  [target ≤ ${PAINT_LIMIT_MS} ms] ${pct(50) <= PAINT_LIMIT_MS ? "OK" : "OVER"}`,
  );
} finally {
  await browser.close();
  await suite.stop();
}
