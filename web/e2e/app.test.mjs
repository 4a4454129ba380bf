// The learner app and the operator console in Debian's Chromium against the
// real suite (started here on free ports). Run by `npm run test:e2e`.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { launch, openPage, screenshot, seriousViolations } from "./browser.mjs";
import { assertGrew, say, signIn, startConversation } from "./flows.mjs";
import { startSuite } from "./suite.mjs";

// A handled 4xx/5xx still shows as a failed resource in the console; nothing else may.
const failedStatus = (code) => `the server responded with a status of ${code}`;

async function checkScreen(page, name, allowedErrors = []) {
  const violations = await seriousViolations(page);
  assert.deepEqual(violations, [], `axe on ${name}`);
  assert.deepEqual(page.unexpectedErrors(allowedErrors), [], `console errors on ${name}`);
  await screenshot(page, name);
}

describe("learner and operator against the real suite", () => {
  let suite;
  let browser;
  let sessionPath;

  before(async () => {
    suite = await startSuite({ chunkDelayMs: 60 });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await suite?.stop();
  });

  it("a learner holds a three-turn conversation, streamed, and it survives a reload", async () => {
    const page = await openPage(browser);
    await page.goto(suite.url);
    await page.getByRole("heading", { name: "Practise speaking with your AI tutor" }).waitFor();
    await checkScreen(page, "sign-in");
    await signIn(page, suite.url, "Ada");
    await page.getByRole("heading", { name: "What would you like to practise?" }).waitFor();
    await page.locator(".scenario").first().click();
    await checkScreen(page, "learner-scenarios");
    sessionPath = await startConversation(page);

    const first = await say(page, "Hello! I would like a large coffee with oat milk, please.", {
      onStreaming: () => screenshot(page, "learner-conversation-streaming"),
    });
    assertGrew(first);
    const paint = await page.evaluate(() => {
      const byte = performance.getEntriesByName("fe:first-delta-byte")[0];
      const painted = performance.getEntriesByName("fe:first-token-painted")[0];
      return byte && painted ? painted.startTime - byte.startTime : null;
    });
    assert.ok(paint !== null && paint >= 0, "the first token is marked as painted after its byte arrived");
    assertGrew(await say(page, "How much does it cost?"));
    assertGrew(await say(page, "Thank you, **that** is all."));
    await assert.doesNotReject(page.locator(".msg.tutor.completed").nth(2).waitFor());
    assert.equal(await page.locator(".msg.learner").count(), 3);
    assert.equal(await page.locator(".msg.tutor").count(), 3);
    await checkScreen(page, "learner-conversation");

    await page.reload();
    await page.locator(".msg.tutor").nth(2).waitFor();
    assert.equal(await page.locator(".msg.learner").count(), 3, "the conversation is still there after a reload");
    assert.match(await page.locator(".msg.learner").first().innerText(), /large coffee/);

    await page.getByRole("link", { name: "My sessions" }).click();
    await page.locator(".session-row").first().waitFor();
    assert.equal(await page.locator(".session-row").count(), 1);
    await checkScreen(page, "learner-sessions");

    // Phone width: the conversation still fits.
    await page.setViewportSize({ width: 390, height: 800 });
    await page.goto(suite.url + sessionPath);
    await page.locator(".msg.tutor").nth(2).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling on a phone (overflow ${overflow}px)`);
    await checkScreen(page, "learner-phone");

    // A learner never sees the console, even by typing its address.
    assert.equal(await page.getByRole("link", { name: "Console" }).count(), 0);
    await page.goto(suite.url + "/console");
    await page.getByRole("heading", { name: "Page not found" }).waitFor();
    assert.equal(await page.locator(".budget-card").count(), 0);
    await page.context().close();
  });

  it("the stop button ends a reply mid-stream and the learner can go on", async () => {
    const page = await openPage(browser);
    await signIn(page, suite.url, "Stan");
    await startConversation(page);
    await page.getByLabel("Your message").fill("Please tell me a long story about a coffee shop in Lisbon.");
    await page.keyboard.press("Enter");
    const streaming = page.getByTestId("streaming-reply");
    await page.waitForFunction(() => (document.querySelector("[data-testid=streaming-reply]")?.textContent ?? "").length > 10);
    await page.getByRole("button", { name: "Stop" }).click();
    await streaming.waitFor({ state: "detached" });
    await page.locator(".msg.tutor .tag", { hasText: "stopped" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Send" }).count(), 1, "the composer is back");
    assertGrew(await say(page, "OK, something shorter then."));
    assert.deepEqual(page.unexpectedErrors(), []);
    await page.context().close();
  });

  it("past sessions can be continued, archived and deleted", async () => {
    const page = await openPage(browser);
    await signIn(page, suite.url, "Sam");
    const first = await startConversation(page);
    await page.getByRole("link", { name: "Practice" }).click();
    await startConversation(page);
    await page.getByRole("link", { name: "My sessions" }).click();
    const rows = page.locator(".session-row");
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2);

    await rows.first().getByRole("button", { name: /^Archive / }).click();
    await page.waitForFunction(() => document.querySelectorAll(".session-row").length === 1);
    await page.getByLabel("Show archived").check();
    await page.locator(".session-row .chip", { hasText: "archived" }).waitFor();
    assert.equal(await rows.count(), 2);

    await page.locator(".session-row", { has: page.locator(".chip", { hasText: "archived" }) }).getByRole("button", { name: /^Delete / }).click();
    const dialog = page.getByRole("alertdialog");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    assert.equal(await rows.count(), 2, "cancel deletes nothing");
    await page.locator(".session-row", { has: page.locator(".chip", { hasText: "archived" }) }).getByRole("button", { name: /^Delete / }).click();
    await dialog.getByRole("button", { name: "Delete" }).click();
    await page.waitForFunction(() => document.querySelectorAll(".session-row").length === 1);

    await rows.first().getByRole("link", { name: /^Continue / }).click();
    await page.waitForURL((u) => u.pathname === first);
    await page.getByLabel("Your message").waitFor();
    assert.deepEqual(page.unexpectedErrors(), []);
    await page.context().close();
  });

  it("works with the keyboard alone", async () => {
    const page = await openPage(browser);
    const tabTo = async (selector) => {
      for (let i = 0; i < 20; i++) {
        await page.keyboard.press("Tab");
        if (await page.evaluate((s) => document.activeElement?.matches(s), selector)) return;
      }
      assert.fail(`Tab never reached ${selector}`);
    };
    await page.goto(suite.url);
    await tabTo("#dev-name");
    await page.keyboard.type("Kim");
    await tabTo("button[type=submit]");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "What would you like to practise?" }).waitFor();
    await tabTo("input[name=scenario]");
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("Space");
    await tabTo("button.primary");
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/talk\//);
    await tabTo("#composer");
    await page.keyboard.type("Hello, I am practising with the keyboard only.");
    await page.keyboard.press("Enter");
    await page.locator(".msg.tutor.completed").first().waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), "composer", "focus goes back to the composer");
    assert.deepEqual(page.unexpectedErrors(), []);
    await page.context().close();
  });

  it("a second learner opening the first one's session gets not found", async () => {
    const page = await openPage(browser);
    await signIn(page, suite.url, "Bob");
    await page.goto(suite.url + sessionPath);
    await page.getByRole("heading", { name: "Conversation not found" }).waitFor();
    assert.equal(await page.locator(".msg").count(), 0);
    await checkScreen(page, "learner-not-found", [failedStatus(404)]);
    await page.context().close();
  });

  it("the admin sees the month's spend and resets the budget", async () => {
    const page = await openPage(browser);
    await signIn(page, suite.url, "Olga Ops", "admin");
    await page.getByRole("link", { name: "Console" }).click();
    const spent = page.getByTestId("budget-spent");
    await spent.waitFor();
    const before = await spent.innerText();
    assert.doesNotMatch(before, /^\$0\.00 /, `the conversation's cost shows: ${before}`);
    await checkScreen(page, "console-budget");

    await page.getByRole("link", { name: "Providers" }).click();
    await page.locator("table tbody tr").first().waitFor();
    await checkScreen(page, "console-providers");

    // Pin a provider as primary, then go back to the configured order.
    await page.getByRole("button", { name: "Pin anthropic as primary" }).click();
    await page.getByText("Pinned primary:").waitFor();
    assert.match(await page.getByText("Pinned primary:").innerText(), /anthropic/);
    await page.getByRole("button", { name: "Unpin" }).click();
    await page.getByText("No pin: the configured order applies.").waitFor();

    await page.getByRole("link", { name: "Costs" }).click();
    // The ledger is fed through the router's outbox: refresh until it has the rows.
    for (let i = 0; i < 40 && (await page.locator(".chart").count()) < 2; i++) {
      await page.waitForTimeout(250);
      await page.getByRole("button", { name: "Refresh now" }).click();
    }
    assert.equal(await page.locator(".chart").count(), 2, "cost by model and spend per day are charted");
    assert.doesNotMatch(await page.getByTestId("month-total").innerText(), /^\$0\.00\s/);
    await checkScreen(page, "console-costs");

    await page.getByRole("link", { name: "Budget" }).click();
    await page.getByRole("button", { name: "Reset budget…" }).click();
    const dialog = page.getByRole("alertdialog");
    await dialog.getByLabel(/Reason/).fill("browser test");
    await checkScreen(page, "console-budget-reset");
    await dialog.getByRole("button", { name: "Reset budget" }).click();
    await page.getByText(/Budget reset by dev-olga-ops/).waitFor();
    await page.waitForFunction(() => /^\$0\.00 of/.test(document.querySelector("[data-testid=budget-spent]")?.textContent ?? ""));
    assert.deepEqual(page.unexpectedErrors(), []);
    await page.context().close();
  });
});

describe("failures a learner is told about plainly", () => {
  let browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => browser?.close());

  /** In a suite started with `options`, a learner's first message gets an alert matching `expected`. */
  async function firstMessageAlert(options, learner, expected, shot, status) {
    const suite = await startSuite(options);
    try {
      const page = await openPage(browser);
      await signIn(page, suite.url, learner);
      await startConversation(page);
      await page.getByLabel("Your message").fill("Hello there");
      await page.keyboard.press("Enter");
      const alert = page.getByRole("alert");
      await alert.waitFor({ timeout: 30_000 });
      const text = await alert.innerText();
      assert.match(text, expected);
      assert.doesNotMatch(text, /\b(429|503)\b|azure|openai|anthropic|grpc/i, "no internal details");
      assert.equal(await alert.getByRole("button", { name: "Retry" }).count(), 1);
      await checkScreen(page, shot, [failedStatus(status)]);
      await page.context().close();
    } finally {
      await suite.stop();
    }
  }

  it("a tiny budget shows the budget message", () =>
    firstMessageAlert({ env: { AI_MONTHLY_BUDGET_USD: "0.000001" } }, "Cleo", /budget has been used up/, "learner-budget-exhausted", 429));

  it("a reply cut off mid-stream keeps what arrived and says the connection was lost", async () => {
    const suite = await startSuite({ simFault: "cut-after=4", chunkDelayMs: 30 });
    try {
      const page = await openPage(browser);
      await signIn(page, suite.url, "Cora");
      await startConversation(page);
      await page.getByLabel("Your message").fill("Hello there, how are you today?");
      await page.keyboard.press("Enter");
      const alert = page.getByRole("alert");
      await alert.waitFor({ timeout: 30_000 });
      const text = await alert.innerText();
      assert.match(text, /connection was lost|tutor is unavailable/);
      assert.equal(await alert.getByRole("button", { name: "Retry" }).count(), 1);
      await checkScreen(page, "learner-cut-off");
      await page.context().close();
    } finally {
      await suite.stop();
    }
  });

  it("too many requests says how long to wait and holds the retry until then", async () => {
    const suite = await startSuite({ gatewayEnv: { RATE_LIMIT_PER_MINUTE: "6" } });
    try {
      const page = await openPage(browser);
      await signIn(page, suite.url, "Rita");
      await startConversation(page);
      const alert = page.getByRole("alert");
      for (let i = 0; i < 6 && (await alert.count()) === 0; i++) {
        await page.getByLabel("Your message").fill(`Message number ${i}`);
        await page.keyboard.press("Enter");
        await Promise.race([alert.waitFor(), page.locator(".msg.tutor.completed").nth(i).waitFor()]);
      }
      assert.match(await alert.innerText(), /a little fast\. Please wait \d+ seconds?/);
      const retry = alert.getByRole("button", { name: /Retry in \d+ s/ });
      assert.ok(await retry.isDisabled(), "no retry before Retry-After");
      await checkScreen(page, "learner-rate-limited", [failedStatus(429)]);
      await page.context().close();
    } finally {
      await suite.stop();
    }
  });

  it("every provider failing shows the unavailable message", () =>
    firstMessageAlert({ simFault: "status=503" }, "Dan", /tutor is unavailable/, "learner-unavailable", 503));
});
