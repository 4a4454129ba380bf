// Who is signed in. Tokens live in this module's memory only — never in
// localStorage or cookies — so a reload signs in again: silently for the
// development sign-in (its name and role, not its token, are remembered for
// the tab), and through the identity provider's own session for OIDC.

import type { UserManager } from "oidc-client-ts";
import { ApiClient, apiBase, errorOf } from "../api/client";
import type { WebConfig } from "../api/types";

export interface Identity {
  token: string;
  subject: string;
  name: string;
  admin: boolean;
  method: "development" | "oidc";
}

type Listener = () => void;

let current: Identity | null = null;
const listeners = new Set<Listener>();

export function identity(): Identity | null {
  return current;
}

export function subscribe(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function set(next: Identity | null): void {
  current = next;
  listeners.forEach((l) => l());
}

/** The API client every screen uses: it reads the token at call time. */
export const api = new ApiClient(
  apiBase(),
  () => current?.token ?? null,
  undefined,
  // An expired or revoked token: back to the sign-in screen.
  () => set(null),
);

const DEV_REMEMBERED = "fluentedge.dev-sign-in";
const OIDC_REMEMBERED = "fluentedge.oidc";

/** The claims of a JWT, read without verifying (the gateway verifies). */
export function claimsOf(token: string): Record<string, unknown> {
  const part = token.split(".")[1] ?? "";
  const binary = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
}

export function hasAdminRole(claims: Record<string, unknown>): boolean {
  const roles = claims.roles;
  if (Array.isArray(roles) && roles.includes("admin")) return true;
  return roles === "admin" || claims.role === "admin";
}

export async function signInDevelopment(name: string, role: "learner" | "admin"): Promise<Identity> {
  const response = await fetch(api.url("/api/dev/sign-in"), {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ name, role }),
  });
  if (!response.ok) throw await errorOf(response);
  const reply = (await response.json()) as { token: string; subject: string; name: string; roles: string[] };
  sessionStorage.setItem(DEV_REMEMBERED, JSON.stringify({ name, role }));
  const id: Identity = {
    token: reply.token,
    subject: reply.subject,
    name: reply.name,
    admin: reply.roles.includes("admin"),
    method: "development",
  };
  set(id);
  return id;
}

let manager: Promise<UserManager> | null = null;

function userManager(config: NonNullable<WebConfig["oidc"]>): Promise<UserManager> {
  // Loaded only when OIDC is configured: the learner bundle stays small.
  manager ??= import("oidc-client-ts").then(
    ({ UserManager, WebStorageStateStore, InMemoryWebStorage }) =>
      new UserManager({
        authority: config.authority,
        client_id: config.client_id,
        scope: config.scope,
        redirect_uri: `${location.origin}/auth/callback`,
        post_logout_redirect_uri: `${location.origin}/`,
        response_type: "code",
        // Tokens in memory; only the PKCE verifier and state cross the redirect.
        userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
        automaticSilentRenew: false,
      }),
  );
  return manager;
}

export async function signInOidc(config: NonNullable<WebConfig["oidc"]>, returnTo: string): Promise<void> {
  const um = await userManager(config);
  await um.signinRedirect({ state: { returnTo } });
}

/** Completes the redirect back from the identity provider; resolves to where to go next. */
export async function completeOidc(config: NonNullable<WebConfig["oidc"]>): Promise<string> {
  const um = await userManager(config);
  const user = await um.signinRedirectCallback();
  const claims = claimsOf(user.access_token);
  sessionStorage.setItem(OIDC_REMEMBERED, "1");
  set({
    token: user.access_token,
    subject: String(claims.sub ?? user.profile.sub),
    name: String(user.profile.name ?? user.profile.preferred_username ?? user.profile.sub),
    admin: hasAdminRole(claims),
    method: "oidc",
  });
  const state = user.state as { returnTo?: string } | undefined;
  return state?.returnTo && state.returnTo.startsWith("/") ? state.returnTo : "/";
}

/**
 * After a reload: sign the same person in again without asking, if this tab
 * was signed in. Returns false when there is nothing to restore.
 */
export async function restore(config: WebConfig): Promise<boolean> {
  const dev = sessionStorage.getItem(DEV_REMEMBERED);
  if (dev && config.development_sign_in) {
    try {
      const { name, role } = JSON.parse(dev) as { name: string; role: "learner" | "admin" };
      await signInDevelopment(name, role);
      return true;
    } catch {
      sessionStorage.removeItem(DEV_REMEMBERED);
      return false;
    }
  }
  if (sessionStorage.getItem(OIDC_REMEMBERED) && config.oidc) {
    await signInOidc(config.oidc, location.pathname + location.search);
    return true;
  }
  return false;
}

export async function signOut(config: WebConfig | null): Promise<void> {
  const method = current?.method;
  sessionStorage.removeItem(DEV_REMEMBERED);
  sessionStorage.removeItem(OIDC_REMEMBERED);
  set(null);
  if (method === "oidc" && config?.oidc) {
    const um = await userManager(config.oidc);
    await um.removeUser();
  }
}

let loadedConfig: WebConfig | null = null;

/** The server's web settings, once loaded. */
export function webConfig(): WebConfig | null {
  return loadedConfig;
}

export async function loadWebConfig(): Promise<WebConfig> {
  const response = await fetch(api.url("/api/web/config"), { headers: { accept: "application/json" } });
  if (!response.ok) throw await errorOf(response);
  loadedConfig = (await response.json()) as WebConfig;
  return loadedConfig;
}
