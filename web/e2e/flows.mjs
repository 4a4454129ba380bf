// What a person does in the app, as steps the browser tests share.
import assert from "node:assert/strict";

export async function signIn(page, url, name, role = "learner") {
  await page.goto(url);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel(role === "admin" ? "Operator (admin)" : "Learner").check();
  await page.getByRole("button", { name: `Sign in as ${name}` }).click();
  await page.getByRole("heading", { level: 1 }).first().waitFor();
}

export async function startConversation(page) {
  await page.getByRole("heading", { name: "What would you like to practise?" }).waitFor();
  await page.locator(".scenario").first().click();
  await page.getByRole("button", { name: /^Start / }).click();
  await page.waitForURL(/\/talk\//);
  await page.getByLabel("Your message").waitFor();
  return new URL(page.url()).pathname;
}

/**
 * Sends `text` and waits for the reply. Returns the lengths of the reply
 * seen while it streamed (growing lengths prove it was seen growing).
 */
export async function say(page, text, { onStreaming } = {}) {
  const tutorBefore = await page.locator(".msg.tutor.completed").count();
  await page.getByLabel("Your message").fill(text);
  await page.keyboard.press("Enter");
  const seen = [];
  const streaming = page.getByTestId("streaming-reply");
  await streaming.waitFor({ timeout: 15_000 });
  let shot = false;
  for (;;) {
    const t = await streaming.innerText({ timeout: 500 }).catch(() => null);
    if (t === null) break;
    if (t.trim() && (seen.length === 0 || t.length !== seen[seen.length - 1])) seen.push(t.length);
    if (!shot && seen.length >= 3 && onStreaming) {
      shot = true;
      await onStreaming();
    }
    await page.waitForTimeout(15);
  }
  await page.locator(".msg.tutor.completed").nth(tutorBefore).waitFor({ timeout: 15_000 });
  return seen;
}

export function assertGrew(lengths) {
  assert.ok(lengths.length >= 2, `the reply should be seen at least twice while streaming, saw ${JSON.stringify(lengths)}`);
  for (let i = 1; i < lengths.length; i++) assert.ok(lengths[i] > lengths[i - 1], `the reply should only grow: ${JSON.stringify(lengths)}`);
}
