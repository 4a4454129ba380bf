// A real OpenID Connect provider for the browser tests: the certified
// `oidc-provider` package, run locally, with its development login pages
// (any login name, any password). It issues RS256 JWT access tokens for the
// FluentEdge API (audience `fluentedge`) carrying a `roles` claim: the login
// name `admin` is an operator, everyone else a learner.
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import Provider from "oidc-provider";
import { freePort } from "./suite.mjs";

export const CLIENT_ID = "fluentedge-web";
export const API_RESOURCE = "urn:fluentedge:api";

export async function startIdp({ appOrigin, port }) {
  port ??= await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: "jwk" }), kid: "e2e-key-1", use: "sig", alg: "RS256" };
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code"],
        response_types: ["code"],
        redirect_uris: [`${appOrigin}/auth/callback`],
        post_logout_redirect_uris: [`${appOrigin}/`],
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: ["fluentedge-e2e-cookie-key"] },
    claims: { openid: ["sub"], profile: ["name"] },
    scopes: ["openid", "profile", "api"],
    features: {
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => API_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: "api",
          audience: "fluentedge",
          accessTokenFormat: "jwt",
          accessTokenTTL: 600,
          jwt: { sign: { alg: "RS256" } },
        }),
      },
    },
    clientBasedCORS: (_ctx, origin) => origin === appOrigin,
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, name: id === "admin" ? "Admin" : id }),
    }),
    extraTokenClaims: async (_ctx, token) => (token.kind === "AccessToken" ? { roles: token.accountId === "admin" ? ["admin"] : ["learner"] } : undefined),
    renderError: async (ctx, out) => {
      ctx.type = "text/plain";
      ctx.body = JSON.stringify(out);
    },
  });
  const server = createServer(provider.callback());
  await new Promise((ok) => server.listen(port, "127.0.0.1", ok));
  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    stop: () => new Promise((ok) => server.close(ok)),
  };
}
