// Starts the real FluentEdge suite for browser tests: the provider simulator
// and the four services (debug binaries from `cargo build --bins`), each on a
// free loopback port, on embedded SQLite files in a temporary directory, in
// development mode (FLUENTEDGE_DEV=1) like `make run`. The gateway serves the
// built app (web/dist).

import { spawn } from "node:child_process";
import { mkdtempSync, existsSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, "../..");
export const webDist = resolve(here, "../dist");

export function binDir() {
  const target = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(repo, "target");
  return join(target, "debug");
}

export async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

async function waitFor(what, probe, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${what} did not become ready in ${timeoutMs} ms${last ? `: ${last.message}` : ""}`);
}

/**
 * Starts a suite. `env` adds variables to every service (e.g. the router's
 * AI_MONTHLY_BUDGET_USD); `simFault` is the simulator's default fault.
 */
export async function startSuite({ env = {}, simFault, chunkDelayMs = 40, gatewayEnv = {}, gatewayPort } = {}) {
  const bin = binDir();
  for (const name of ["provider-sim", "usage-accounting", "llm-router", "conversation", "gateway"]) {
    if (!existsSync(join(bin, name))) throw new Error(`${join(bin, name)} is missing: run \`cargo build --workspace --bins\` first`);
  }
  if (!existsSync(join(webDist, "index.html"))) throw new Error("web/dist is missing: run `npm run build` first");
  const data = mkdtempSync(join(tmpdir(), "fluentedge-e2e-"));
  const [sim, usage, router, conversation, gateway] = await Promise.all([freePort(), freePort(), freePort(), freePort(), gatewayPort ?? freePort()]);
  const common = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? data,
    FLUENTEDGE_DEV: "1",
    // No metrics listeners: their fixed default ports would clash with any
    // other suite running on this machine (the browser tests never read them).
    METRICS_ADDR: "off",
    RUST_LOG: process.env.E2E_RUST_LOG ?? "warn",
    USAGE_ADDR: `http://127.0.0.1:${usage}`,
    ROUTER_ADDR: `http://127.0.0.1:${router}`,
    CONVERSATION_ADDR: `http://127.0.0.1:${conversation}`,
    ...env,
  };
  const children = [];
  const logs = [];
  const start = (name, vars, args = []) => {
    const child = spawn(join(bin, name), args, { env: { ...common, ...vars }, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk) => {
      for (const line of String(chunk).split("\n")) if (line) logs.push(`[${name}] ${line}`);
      if (logs.length > 2000) logs.splice(0, logs.length - 2000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    children.push(child);
    return child;
  };
  start("provider-sim", {
    SIM_LISTEN: `127.0.0.1:${sim}`,
    SIM_CHUNK_DELAY_MS: String(chunkDelayMs),
    ...(simFault ? { SIM_FAULT: simFault } : {}),
  });
  start("usage-accounting", { USAGE_LISTEN_ADDR: `127.0.0.1:${usage}`, USAGE_SQLITE_PATH: join(data, "usage.db") });
  start("llm-router", {
    ROUTER_LISTEN_ADDR: `127.0.0.1:${router}`,
    SIMULATOR_URL: `http://127.0.0.1:${sim}`,
    USAGE_OUTBOX_PATH: join(data, "outbox.db"),
  });
  start("conversation", { CONVERSATION_LISTEN_ADDR: `127.0.0.1:${conversation}`, CONVERSATION_SQLITE_PATH: join(data, "conversation.db") });
  start("gateway", { GATEWAY_LISTEN_ADDR: `127.0.0.1:${gateway}`, WEB_DIR: webDist, ...gatewayEnv });

  const url = `http://127.0.0.1:${gateway}`;
  const suite = {
    url,
    simUrl: `http://127.0.0.1:${sim}`,
    logs,
    async stop() {
      for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
      await Promise.all(
        children.map((c) => (c.exitCode !== null ? null : new Promise((r) => { c.once("exit", r); setTimeout(() => { c.kill("SIGKILL"); r(); }, 5000); }))),
      );
      rmSync(data, { recursive: true, force: true });
    },
  };
  try {
    await waitFor("the suite", async () => {
      for (const c of children) if (c.exitCode !== null) throw new Error(`a service exited (${c.spawnfile}): ${logs.slice(-20).join("\n")}`);
      const r = await fetch(`${url}/ready`);
      return r.status === 200;
    });
  } catch (e) {
    await suite.stop();
    throw new Error(`${e.message}\n${logs.slice(-30).join("\n")}`);
  }
  return suite;
}
