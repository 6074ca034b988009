// The web client in a real browser (Debian's chromium driven by playwright-core)
// against a running `social`: two people, A and B, in two browser contexts.
// Run by scripts/browser-test.sh, which starts the server and sets
// BASE_URL, CHROMIUM and SCREENSHOTS.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { deflateSync } from "node:zlib";
import { chromium } from "playwright-core";

const BASE = process.env.BASE_URL ?? "http://127.0.0.1:3000";
const SHOTS = process.env.SCREENSHOTS ?? "../target/browser";
const LIVE_WAIT = 10_000;
mkdirSync(SHOTS, { recursive: true });

const run = Date.now().toString(36);
const alice = { username: `alice_${run}`, password: "alice password 1" };
const bob = { username: `bob_${run}`, password: "bob password 12" };

/** Every request that would leave 127.0.0.1 (there must be none). */
const elsewhere = [];
function watch(context) {
  const check = (url) => {
    const u = new URL(url);
    if (u.protocol === "data:" || u.protocol === "blob:") return;
    if (u.hostname !== "127.0.0.1") elsewhere.push(url);
  };
  context.on("request", (request) => check(request.url()));
  context.on("page", (page) => page.on("websocket", (socket) => check(socket.url())));
}

/** A small solid-colour PNG, made here so the test needs no file. */
function png(size, [r, g, b]) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => {
    let c = 0xffffffff;
    for (const byte of bytes) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: size }, () => [r, g, b]).flat())]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: size }, () => row)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", pixels),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png` });
  console.log(`  screenshot ${SHOTS}/${name}.png`);
}

async function step(name, body) {
  const started = Date.now();
  await body();
  console.log(`ok ${name} (${Date.now() - started} ms)`);
}

async function signUp(page, who) {
  await page.goto(`${BASE}/#/signup`);
  await page.getByLabel("Username").fill(who.username);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Home" }).waitFor();
  await page.waitForFunction(() => document.body.dataset.live === "live", null, { timeout: LIVE_WAIT });
}

async function post(page, text) {
  await page.getByLabel("New post").fill(text);
  await page.getByRole("button", { name: "Post", exact: true }).click();
  await page.locator(".post", { hasText: text }).first().waitFor();
}

const posts = (page, text) => page.locator(".post", { hasText: text });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  // No name but 127.0.0.1 resolves: a page that needed another host would fail here.
  args: ["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--no-sandbox", "--disable-gpu"],
});
let failed = false;
try {
  const desktop = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const phone = await browser.newContext({ viewport: { width: 390, height: 780 }, isMobile: true, hasTouch: true });
  for (const context of [desktop, phone]) {
    watch(context);
    context.setDefaultTimeout(LIVE_WAIT);
  }
  const a = await desktop.newPage();
  const b = await phone.newPage();
  const refreshesOfA = [];
  a.on("response", (response) => {
    if (response.url().endsWith("/api/v1/auth/refresh")) refreshesOfA.push(response.status());
  });
  const socketsOfA = [];
  a.on("websocket", (socket) => socketsOfA.push(socket));
  const violations = [];
  for (const page of [a, b]) {
    page.on("pageerror", (error) => console.error(`page error: ${error.message}`));
    page.on("console", (entry) => {
      if (entry.type() === "error" && entry.text().includes("Content Security Policy")) violations.push(entry.text());
    });
  }

  await step("a failed sign-in shows the api's message", async () => {
    const answer = await fetch(`${BASE}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "nobody_here", password: "not the password" }),
    });
    const { detail } = await answer.json();
    await a.goto(`${BASE}/`);
    await a.getByRole("heading", { name: "Sign in" }).waitFor();
    await a.getByLabel("Username").fill("nobody_here");
    await a.getByLabel("Password").fill("not the password");
    await a.getByRole("button", { name: "Sign in" }).click();
    const alert = a.locator(".form-error");
    await alert.waitFor();
    assert.equal(await alert.textContent(), detail);
    await shot(a, "signin-error");
  });

  await step("sign-up errors appear field by field", async () => {
    await a.goto(`${BASE}/#/signup`);
    await a.getByLabel("Username").fill("x");
    await a.getByLabel("Password").fill("short");
    await a.getByRole("button", { name: "Create account" }).click();
    await a.locator("#f-username-error").waitFor();
    await a.locator("#f-password-error").waitFor();
    assert.equal(await a.getByLabel("Username").getAttribute("aria-invalid"), "true");
    assert.equal(await a.evaluate(() => document.activeElement?.id), "f-username", "focus goes to the first bad field");
    await shot(a, "signup-errors");
  });

  await step("A and B sign up", async () => {
    await signUp(a, alice);
    await signUp(b, bob);
  });

  await step("B follows A", async () => {
    await b.goto(`${BASE}/#/u/${alice.username}`);
    await b.getByRole("button", { name: "Follow" }).click();
    await b.getByRole("button", { name: "Unfollow" }).waitFor();
    await shot(b, "profile-phone");
    await b.goto(`${BASE}/#/`);
    await b.getByRole("heading", { name: "Home" }).waitFor();
  });

  await step("A posts; B sees it live, without reloading", async () => {
    const text = `Hello from A ${run}`;
    await post(a, text);
    await posts(b, text).waitFor({ timeout: LIVE_WAIT });
    await shot(b, "timeline-live-phone");
  });

  await step("B drops off, A posts twice, B comes back and sees both exactly once", async () => {
    await phone.setOffline(true);
    await b.locator("#live-state", { hasText: "reconnecting" }).waitFor({ timeout: LIVE_WAIT });
    await shot(b, "reconnecting-phone");
    const first = `While B was away, one ${run}`;
    const second = `While B was away, two ${run}`;
    await post(a, first);
    await post(a, second);
    // Proves B was really cut off: what follows can only come from the replay.
    await b.waitForTimeout(500);
    assert.equal(await posts(b, first).count(), 0, "nothing reaches B while offline");
    await phone.setOffline(false);
    await posts(b, first).waitFor({ timeout: LIVE_WAIT * 2 });
    await posts(b, second).waitFor({ timeout: LIVE_WAIT });
    await b.waitForFunction(() => document.body.dataset.live === "live");
    assert.ok(await b.locator("#live-state").isHidden(), "the banner goes once live again");
    // Anything replayed twice would have arrived by now.
    await b.waitForTimeout(1000);
    assert.equal(await posts(b, first).count(), 1);
    assert.equal(await posts(b, second).count(), 1);
    const ids = await b.locator(".post").evaluateAll((items) => items.map((item) => item.dataset.postId));
    assert.equal(new Set(ids).size, ids.length, "no post is shown twice");
  });

  await step("A mentions B; B's badge updates live; mark all read clears it", async () => {
    await post(a, `Welcome @${bob.username}, good to see you ${run}`);
    const badge = b.locator("#badge");
    await b.waitForFunction(() => document.getElementById("badge")?.textContent === "1", null, { timeout: LIVE_WAIT });
    assert.ok(await badge.isVisible());
    await shot(b, "badge-phone");
    await b.getByRole("link", { name: /Notifications/ }).click();
    await b.locator(".notification.unread", { hasText: "mentioned you" }).waitFor();
    await shot(b, "notifications-phone");
    await b.getByRole("button", { name: "Mark all as read" }).click();
    await b.locator(".notification.unread").waitFor({ state: "detached" });
    await badge.waitFor({ state: "hidden" });
  });

  await step("A deletes a post; it vanishes from B's timeline live", async () => {
    await b.goto(`${BASE}/#/`);
    const text = `Hello from A ${run}`;
    await posts(b, text).waitFor();
    a.once("dialog", (dialog) => void dialog.accept());
    await posts(a, text).getByRole("button", { name: "Delete this post" }).click();
    await posts(a, text).waitFor({ state: "detached" });
    await posts(b, text).waitFor({ state: "detached", timeout: LIVE_WAIT });
  });

  await step("the access token is refreshed before it expires, silently", async () => {
    // JWT_TTL_SECONDS=70: the page refreshes 60 s before expiry, 10 s after signing in.
    for (let waited = 0; refreshesOfA.length === 0 && waited < 20_000; waited += 250) await a.waitForTimeout(250);
    assert.deepEqual(refreshesOfA, [200], "one refresh, accepted");
    // A reload in the same tab keeps the session (the refresh token is in sessionStorage).
    await a.reload();
    await a.getByRole("heading", { name: "Home" }).waitFor();
    await a.waitForFunction(() => document.body.dataset.live === "live");
    await a.getByRole("link", { name: /Notifications/ }).click();
    await a.locator(".notification", { hasText: "followed you" }).waitFor();
  });

  await step("avatar upload: the preview, the new picture, and the api's refusal of a non-image", async () => {
    await a.goto(`${BASE}/#/settings`);
    await a.getByLabel("Choose a picture").setInputFiles({ name: "notes.png", mimeType: "image/png", buffer: Buffer.from("not a picture at all") });
    await a.getByRole("button", { name: "Upload picture" }).click();
    await a.locator("#avatar-error", { hasText: "not a picture" }).waitFor();
    await a.getByLabel("Choose a picture").setInputFiles({ name: "me.png", mimeType: "image/png", buffer: png(64, [46, 125, 220]) });
    const preview = a.locator(".preview img");
    assert.match((await preview.getAttribute("src")) ?? "", /^blob:/, "a local preview before the upload");
    await a.getByRole("button", { name: "Upload picture" }).click();
    await a.getByText("Your new picture is saved.").waitFor();
    const src = (await preview.getAttribute("src")) ?? "";
    assert.match(src, /\/media\//);
    const loaded = await preview.evaluate((img) => img.complete && img.naturalWidth > 0);
    assert.ok(loaded, "the uploaded picture loads");
    assert.equal(await a.locator("nav .me img").getAttribute("src"), src, "the navigation shows it too");
    await shot(a, "settings");
  });

  await step("search finds posts and people", async () => {
    await a.goto(`${BASE}/#/search`);
    await a.getByLabel("Search posts and people").fill(bob.username);
    await a.getByRole("button", { name: "Search" }).click();
    await a.locator(".person", { hasText: bob.username }).waitFor();
    await a.locator(".post", { hasText: "Welcome" }).waitFor();
    await shot(a, "search");
  });

  await step("the timeline, with the new avatar", async () => {
    await b.goto(`${BASE}/#/`);
    await post(b, `Thanks @${alice.username}! Glad to be here.`);
    await a.goto(`${BASE}/#/u/${bob.username}`);
    await a.getByRole("button", { name: "Follow" }).click();
    await a.getByRole("button", { name: "Unfollow" }).waitFor();
    await a.goto(`${BASE}/#/`);
    await a.locator(".post", { hasText: "Glad to be here" }).waitFor();
    await a.locator(".post img.avatar").first().waitFor();
    await a.getByLabel("New post").fill("Drafting a reply…");
    await shot(a, "timeline");
    await a.goto(`${BASE}/#/u/${alice.username}`);
    await a.locator(".post").first().waitFor();
    await shot(a, "profile");
  });

  await step("signing out closes the socket", async () => {
    const socket = socketsOfA.at(-1);
    assert.ok(socket && !socket.isClosed(), "A is live before signing out");
    const closing = socket.waitForEvent("close");
    await a.getByRole("button", { name: "Sign out" }).click();
    await a.getByRole("heading", { name: "Sign in" }).waitFor();
    await closing;
    assert.equal(await a.evaluate(() => document.body.dataset.live), "closed");
    assert.equal(await a.evaluate(() => sessionStorage.length), 0, "no token left behind");
    await a.reload();
    await a.getByRole("heading", { name: "Sign in" }).waitFor();
  });

  await step("C's timeline scrolls on, page after page, up to the quota message", async () => {
    // C made 25 posts through the API; POST_DAILY_LIMIT=25 makes the next one too many.
    const carol = { username: `carol_${run}`, password: "carol password 1" };
    const json = (method, path, body, token) =>
      fetch(`${BASE}${path}`, {
        method,
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      }).then(async (r) => (r.status === 204 ? null : r.json()));
    await json("POST", "/api/v1/auth/register", carol);
    const { access_token: token } = await json("POST", "/api/v1/auth/login", carol);
    for (let n = 1; n <= 25; n++) await json("POST", "/api/v1/posts", { content: `Carol's post number ${n}` }, token);
    await a.getByLabel("Username").fill(carol.username);
    await a.getByLabel("Password").fill(carol.password);
    await a.getByRole("button", { name: "Sign in" }).click();
    await a.getByRole("heading", { name: "Home" }).waitFor();
    await a.locator(".post").nth(19).waitFor();
    assert.equal(await a.locator(".post").count(), 20, "one page until the end comes into view");
    for (let n = 0; n < 10 && (await a.locator(".post").count()) < 25; n++) {
      await a.mouse.wheel(0, 4000);
      await a.waitForTimeout(200);
    }
    await a.locator(".post", { hasText: /number 1$/ }).waitFor();
    assert.equal(await a.locator(".post").count(), 25, "the second page joined the first, without repeats");
    await a.getByText("That's everything.").waitFor();
    await a.getByLabel("New post").fill("One post too many");
    assert.equal(await a.locator("#compose-count").textContent(), `${500 - 17} characters left`);
    await a.getByRole("button", { name: "Post", exact: true }).click();
    await a.locator("#compose-error", { hasText: "today's limit" }).waitFor();
    await shot(a, "quota");
  });

  await step("no request left 127.0.0.1, and nothing broke the page's policy", async () => {
    assert.deepEqual(elsewhere, []);
    assert.deepEqual(violations, []);
  });
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
