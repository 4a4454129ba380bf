import { describe, expect, it } from "vitest";
import { ApiClient, parseRetryAfter } from "./client";
import { ApiError, learnerMessage } from "./errors";

type Call = { url: string; init: RequestInit };

function client(respond: (call: Call) => Response | Promise<Response>, token: string | null = "tok", onUnauthenticated?: () => void) {
  const calls: Call[] = [];
  const fake = (async (url: RequestInfo | URL, init?: RequestInit) => {
    const call = { url: String(url), init: init ?? {} };
    calls.push(call);
    return respond(call);
  }) as typeof fetch;
  return { api: new ApiClient("http://gw", () => token, fake, onUnauthenticated), calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

describe("ApiClient", () => {
  it("sends the bearer token and a JSON body, and reads JSON back", async () => {
    const { api, calls } = client(() => json(201, { id: "s1" }));
    const session = await api.post<{ id: string }>("/api/talk/sessions", { scenario_id: "cafe" });
    expect(session.id).toBe("s1");
    const headers = calls[0].init.headers as Record<string, string>;
    expect(calls[0].url).toBe("http://gw/api/talk/sessions");
    expect(headers.authorization).toBe("Bearer tok");
    expect(headers["content-type"]).toBe("application/json");
    expect(calls[0].init.body).toBe('{"scenario_id":"cafe"}');
  });

  it("sends no Authorization header when signed out, and 204 has no body", async () => {
    const { api, calls } = client(() => new Response(null, { status: 204 }), null);
    await expect(api.delete("/api/talk/sessions/x")).resolves.toBeUndefined();
    expect((calls[0].init.headers as Record<string, string>).authorization).toBeUndefined();
  });

  it("tells a budget 429 from a rate-limit 429 and keeps Retry-After", async () => {
    const budget = client(() => json(429, { error: { code: "budget_exceeded", message: "monthly budget exhausted", request_id: "r1" } }));
    const e1 = await budget.api.get("/x").catch((e) => e);
    expect(e1).toBeInstanceOf(ApiError);
    expect([e1.status, e1.kind, e1.requestId]).toEqual([429, "budget", "r1"]);
    expect(learnerMessage(e1)).toMatch(/budget/);

    const limited = client(() => json(429, { error: { code: "rate_limited", message: "slow down", request_id: "r2" } }, { "retry-after": "7" }));
    const e2 = await limited.api.get("/x").catch((e) => e);
    expect([e2.kind, e2.retryAfter]).toEqual(["rate_limit", 7]);
    expect(learnerMessage(e2)).toContain("7 seconds");
  });

  it("maps 503, 404 and a network failure to learner messages without internals", async () => {
    const down = client(() => json(503, { error: { code: "all_providers_failed", message: "azure: 503 upstream at 10.0.0.3", request_id: "" } }));
    const e = await down.api.get("/x").catch((x) => x);
    expect(e.kind).toBe("unavailable");
    expect(learnerMessage(e)).not.toContain("10.0.0.3");
    const missing = client(() => json(404, { error: { code: "not_found", message: "session s1 not found", request_id: "" } }));
    expect((await missing.api.get("/x").catch((x) => x)).kind).toBe("not_found");
    const offline = client(() => Promise.reject(new TypeError("Failed to fetch")));
    const n = await offline.api.get("/x").catch((x) => x);
    expect([n.kind, n.status]).toEqual(["connection_lost", 0]);
  });

  it("survives an error page that is not JSON", async () => {
    const { api } = client(() => new Response("<html>Bad gateway</html>", { status: 502, statusText: "Bad Gateway" }));
    const e = await api.get("/x").catch((x) => x);
    expect([e.status, e.kind, e.message]).toEqual([502, "unavailable", "Bad Gateway"]);
  });

  it("tells the app when the gateway stops accepting the token", async () => {
    let signedOut = 0;
    const expired = client(() => json(401, { error: { code: "unauthenticated", message: "the token has expired", request_id: "" } }), "old", () => signedOut++);
    const e = await expired.api.get("/x").catch((x) => x);
    expect([e.kind, signedOut]).toEqual(["signed_out", 1]);
    const forbidden = client(() => json(403, { error: { code: "permission_denied", message: "admin only", request_id: "" } }), "tok", () => signedOut++);
    await forbidden.api.get("/x").catch(() => null);
    expect(signedOut).toBe(1);
  });

  it("passes an abort through untouched", async () => {
    const { api } = client(() => Promise.reject(new DOMException("aborted", "AbortError")));
    const e = await api.get("/x").catch((x) => x);
    expect(e.name).toBe("AbortError");
  });
});

describe("parseRetryAfter", () => {
  it("reads seconds and HTTP dates", () => {
    expect(parseRetryAfter("12")).toBe(12);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter("soon")).toBeNull();
    const now = Date.parse("2026-12-06T10:00:00Z");
    expect(parseRetryAfter("Sun, 06 Dec 2026 10:00:30 GMT", now)).toBe(30);
  });
});
