// Production sign-in: authorization code + PKCE against a local OpenID
// Connect provider; the gateway verifies its tokens from its JWKS.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { launch, openPage, screenshot, seriousViolations } from "./browser.mjs";
import { CLIENT_ID, startIdp } from "./idp.mjs";
import { say, startConversation } from "./flows.mjs";
import { freePort, startSuite } from "./suite.mjs";

describe("OpenID Connect sign-in", () => {
  let idp;
  let suite;
  let browser;

  before(async () => {
    const gatewayPort = await freePort();
    idp = await startIdp({ appOrigin: `http://127.0.0.1:${gatewayPort}` });
    suite = await startSuite({
      gatewayPort,
      gatewayEnv: {
        AUTH_JWKS_URL: idp.jwksUrl,
        AUTH_ISSUER: idp.issuer,
        WEB_OIDC_AUTHORITY: idp.issuer,
        WEB_OIDC_CLIENT_ID: CLIENT_ID,
        WEB_OIDC_SCOPE: "openid profile api",
      },
    });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await suite?.stop();
    await idp?.stop();
  });

  async function logIn(page, login) {
    await page.goto(suite.url);
    assert.equal(await page.getByText("Development sign-in").count(), 0, "no development sign-in outside development mode");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL((u) => u.href.startsWith(idp.issuer));
    await page.locator("input[name=login]").fill(login);
    await page.locator("input[name=password]").fill("any-password");
    await page.locator("button[type=submit]").click();
    // The provider's consent page, the first time.
    const consent = page.locator("button[type=submit]");
    if (await page.url().startsWith(idp.issuer) && (await consent.count()) > 0) await consent.click();
    await page.waitForURL((u) => u.href.startsWith(suite.url));
  }

  it("a learner signs in at the provider and practises", async () => {
    const page = await openPage(browser, { onlyOrigin: suite.url });
    await page.goto(suite.url);
    await page.getByRole("button", { name: "Sign in", exact: true }).waitFor();
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, "sign-in-oidc");
    await logIn(page, "lena");
    await page.getByRole("heading", { name: "What would you like to practise?" }).waitFor();
    assert.match(await page.locator(".who").innerText(), /lena/);
    assert.equal(await page.getByRole("link", { name: "Console" }).count(), 0);
    await startConversation(page);
    await say(page, "Good morning, I have a reservation.");
    // Tokens are in memory only.
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert.doesNotMatch(stored, /eyJ[\w-]+\.eyJ/, "no JWT in web storage");
    // A reload signs in again through the provider's session.
    await page.reload();
    await page.locator(".msg.tutor").first().waitFor();
    assert.deepEqual(page.unexpectedErrors(), []);
    await page.context().close();
  });

  it("the provider's admin sees the console", async () => {
    const page = await openPage(browser, { onlyOrigin: suite.url });
    await logIn(page, "admin");
    await page.getByRole("link", { name: "Console" }).click();
    await page.getByTestId("budget-state").waitFor();
    assert.deepEqual(page.unexpectedErrors(), []);
    await page.context().close();
  });
});
