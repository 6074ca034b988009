// The single page: hash routes (#/, #/u/name, #/search, #/notifications,
// #/settings, #/signin, #/signup), so the api serves one file for every screen
// and any other path keeps its problem+json 404.

import "./style.css";
import {
  api,
  ApiError,
  hasStoredSession,
  isSignedIn,
  onSignedOut,
  refresh,
  signIn,
  signOut,
  signUp,
  type Author,
  type Notification,
  type Page,
  type Post,
  type User,
} from "./api";
import { duration, fill, h, length, randomKey, time } from "./dom";
import { Live, type LiveEvent, type LiveState } from "./live";

const MAX_POST = 500;

let me: User | null = null;
const main = document.getElementById("main") as HTMLElement;
const nav = document.getElementById("nav") as HTMLElement;
const banner = document.getElementById("live-state") as HTMLElement;

// ---------------------------------------------------------------- live

/** What the shown screen does with live events (set by each screen). */
let screenEvents: (event: LiveEvent) => void = () => {};

const live = new Live(onLiveEvent, showLiveState);

function onLiveEvent(event: LiveEvent): void {
  if (event.type === "post.deleted") {
    removePost(event.data.post_id);
  } else if (event.type === "notification") {
    scheduleBadge();
  }
  screenEvents(event);
}

function showLiveState(state: LiveState): void {
  banner.hidden = state !== "reconnecting";
  banner.textContent = state === "reconnecting" ? "Connection lost: reconnecting…" : "";
  document.body.dataset.live = state;
}

// ---------------------------------------------------------------- badge

let badgeTimer: number | undefined;

/** The unread count is asked again (not counted here): a replay after a reconnection cannot inflate it. */
function scheduleBadge(): void {
  window.clearTimeout(badgeTimer);
  badgeTimer = window.setTimeout(() => void updateBadge(), 250);
}

async function updateBadge(): Promise<void> {
  try {
    setBadge((await api.unreadCount()).count);
  } catch {
    // The next event or screen asks again.
  }
}

function setBadge(count: number): void {
  const badge = document.getElementById("badge");
  if (!badge) return;
  badge.textContent = count > 0 ? String(count) : "";
  badge.hidden = count === 0;
  const link = badge.closest("a");
  link?.setAttribute("aria-label", count > 0 ? `Notifications, ${count} unread` : "Notifications");
}

// ---------------------------------------------------------------- shared pieces

function displayName(author: Author): string {
  return author.display_name || author.username;
}

function avatar(author: Author, size: "s" | "l" = "s"): HTMLElement {
  if (author.avatar_url) {
    return h("img", { class: `avatar ${size}`, src: author.avatar_url, alt: "", width: size === "s" ? 44 : 96, height: size === "s" ? 44 : 96 });
  }
  return h("span", { class: `avatar ${size} initial`, "aria-hidden": "true" }, displayName(author).slice(0, 1).toUpperCase());
}

function userLink(author: Author): HTMLAnchorElement {
  const handle = author.display_name ? h("span", { class: "handle" }, ` @${author.username}`) : null;
  return h("a", { href: `#/u/${author.username}`, class: "who" }, h("strong", {}, displayName(author)), handle);
}

/** The post's text, with its mentions linked to their profiles. */
function content(post: Post): HTMLElement {
  const known = new Set(post.mentions.map((m) => m.username.toLowerCase()));
  const p = h("p", { class: "content" });
  let last = 0;
  for (const match of post.content.matchAll(/@([A-Za-z0-9_]{3,30})/g)) {
    const name = match[1];
    if (!known.has(name.toLowerCase())) continue;
    p.append(post.content.slice(last, match.index), h("a", { href: `#/u/${name}` }, `@${name}`));
    last = match.index + match[0].length;
  }
  p.append(post.content.slice(last));
  return p;
}

function postItem(post: Post): HTMLElement {
  const own = me !== null && post.author.id === me.id;
  const remove = own
    ? h(
        "button",
        { type: "button", class: "link danger", "aria-label": "Delete this post", onclick: () => void deletePost(post.id) },
        "Delete",
      )
    : null;
  return h(
    "li",
    { class: "post", "data-post-id": post.id },
    h("article", { "aria-label": `Post by ${displayName(post.author)}` }, avatar(post.author), h("div", { class: "body" }, h("header", {}, userLink(post.author), " · ", time(post.created_at), remove), content(post))),
  );
}

async function deletePost(id: string): Promise<void> {
  if (!window.confirm("Delete this post? This cannot be undone.")) return;
  try {
    await api.deletePost(id);
    const next = removePost(id);
    next?.querySelector<HTMLElement>("a, button")?.focus();
  } catch (error) {
    alertError(error);
  }
}

/** Takes a post off every list on screen; returns the item after it (where focus goes). */
function removePost(id: string): HTMLElement | null {
  let after: HTMLElement | null = null;
  document.querySelectorAll<HTMLElement>(`[data-post-id="${CSS.escape(id)}"]`).forEach((item) => {
    after = (item.nextElementSibling as HTMLElement | null) ?? (item.previousElementSibling as HTMLElement | null);
    item.remove();
  });
  return after;
}

function message(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 429 && error.retryAfter !== null) return `${error.message} Try again in ${duration(error.retryAfter)}.`;
    return error.message;
  }
  return "Something went wrong. Please try again.";
}

function alertError(error: unknown): void {
  const box = main.querySelector<HTMLElement>(".page-error");
  if (box) {
    box.textContent = message(error);
    box.hidden = false;
  }
}

/**
 * A cursor-paged list: the next page loads when its end scrolls into view
 * (or its button is pressed); an id already shown is never shown twice.
 */
class Feed<T extends { id: string }> {
  readonly list: HTMLElement;
  readonly root: HTMLElement;
  private readonly ids = new Set<string>();
  private cursor: string | null = null;
  private done = false;
  private loading = false;
  private readonly more: HTMLButtonElement;
  private readonly status: HTMLElement;
  private readonly observer: IntersectionObserver;

  constructor(
    label: string,
    private readonly fetchPage: (before: string | null) => Promise<Page<T>>,
    private readonly render: (item: T) => HTMLElement,
    private readonly empty: string,
  ) {
    this.list = h("ol", { class: "feed", "aria-label": label });
    this.more = h("button", { type: "button", class: "more", onclick: () => void this.load() }, "Load more");
    this.status = h("p", { class: "muted feed-status", role: "status" });
    this.root = h("div", {}, this.list, this.status, this.more);
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void this.load();
    });
    this.observer.observe(this.more);
  }

  async load(): Promise<Page<T> | null> {
    if (this.loading || this.done) return null;
    this.loading = true;
    this.status.textContent = "Loading…";
    try {
      const page = await this.fetchPage(this.cursor);
      this.list.append(...page.data.filter((item) => this.take(item)).map(this.render));
      this.cursor = page.next_cursor;
      this.done = page.next_cursor === null;
      this.status.textContent = this.done ? (this.ids.size === 0 ? this.empty : "That's everything.") : "";
      this.more.hidden = this.done;
      // The observer only reports changes: a page that left the end in view asks for the next itself.
      if (!this.done) window.setTimeout(() => this.fillScreen(), 0);
      return page;
    } catch (error) {
      this.status.textContent = message(error);
      return null;
    } finally {
      this.loading = false;
    }
  }

  private fillScreen(): void {
    if (this.more.isConnected && this.more.getBoundingClientRect().top < window.innerHeight) void this.load();
  }

  /** Puts a live item on top, unless it is already shown. */
  prepend(item: T): boolean {
    if (!this.take(item)) return false;
    const element = this.render(item);
    element.classList.add("fresh");
    this.list.prepend(element);
    // The highlight only says "this just arrived".
    window.setTimeout(() => element.classList.remove("fresh"), 4000);
    if (this.ids.size === 1) this.status.textContent = "";
    return true;
  }

  private take(item: T): boolean {
    if (this.ids.has(item.id)) return false;
    this.ids.add(item.id);
    return true;
  }

  stop(): void {
    this.observer.disconnect();
  }
}

// ---------------------------------------------------------------- screens

let leaveScreen: () => void = () => {};

function screen(title: string, ...children: (Node | null)[]): void {
  document.title = `${title} · social`;
  const heading = h("h1", { tabindex: -1 }, title);
  fill(main, heading, h("p", { class: "page-error", role: "alert", hidden: true }), ...children);
  // Focus follows the screen change, so a keyboard or screen-reader user starts at its title.
  heading.focus();
}

function field(name: string, label: string, attrs: Record<string, string | boolean>): HTMLElement {
  const id = `f-${name}`;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, name, "aria-describedby": `${id}-error`, ...attrs }),
    h("p", { class: "field-error", id: `${id}-error`, hidden: true }),
  );
}

/** Shows a problem's field errors next to their inputs; what fits no field goes to the form. */
function showProblem(form: HTMLFormElement, error: unknown): void {
  form.querySelectorAll<HTMLElement>(".field-error").forEach((p) => {
    p.hidden = true;
    p.textContent = "";
  });
  form.querySelectorAll("input").forEach((input) => input.removeAttribute("aria-invalid"));
  const formError = form.querySelector<HTMLElement>(".form-error") as HTMLElement;
  const fields: Record<string, string[]> = error instanceof ApiError ? { ...error.errors } : {};
  if (error instanceof ApiError && error.code === "username_taken") fields.username = [error.message];
  if (error instanceof ApiError && error.code === "email_taken") fields.email = [error.message];
  let rest = "";
  for (const [name, messages] of Object.entries(fields)) {
    const input = form.querySelector<HTMLInputElement>(`input[name="${CSS.escape(name)}"]`);
    if (!input) {
      rest += `${messages.join(", ")} `;
      continue;
    }
    input.setAttribute("aria-invalid", "true");
    const p = form.querySelector<HTMLElement>(`#${input.id}-error`) as HTMLElement;
    p.textContent = messages.join(", ");
    p.hidden = false;
  }
  const text = Object.keys(fields).length === 0 ? message(error) : rest.trim();
  formError.textContent = text;
  formError.hidden = text === "";
  // The first field in reading order, whatever order the api listed them in.
  const first = form.querySelector<HTMLInputElement>('input[aria-invalid="true"]');
  if (first !== null) first.focus();
  else formError.focus();
}

function authScreen(mode: "signin" | "signup"): void {
  const signingUp = mode === "signup";
  const form = h(
    "form",
    { class: "card auth", novalidate: true },
    field("username", "Username", { autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" }),
    signingUp ? field("email", "Email (optional)", { type: "email", autocomplete: "email" }) : null,
    field("password", "Password", { type: "password", autocomplete: signingUp ? "new-password" : "current-password", required: true }),
    h("p", { class: "form-error", role: "alert", tabindex: -1, hidden: true }),
    h("button", { type: "submit", class: "primary" }, signingUp ? "Create account" : "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const button = form.querySelector("button") as HTMLButtonElement;
    button.disabled = true;
    try {
      const username = String(data.get("username")).trim();
      const password = String(data.get("password"));
      if (signingUp) await signUp(username, password, String(data.get("email") ?? "").trim());
      else await signIn(username, password);
      await startSession();
      location.hash = "#/";
    } catch (error) {
      showProblem(form, error);
    } finally {
      button.disabled = false;
    }
  });
  screen(
    signingUp ? "Create an account" : "Sign in",
    form,
    h(
      "p",
      { class: "switch" },
      signingUp ? "Already have an account? " : "New here? ",
      h("a", { href: signingUp ? "#/signin" : "#/signup" }, signingUp ? "Sign in" : "Create an account"),
    ),
  );
}

function composer(onPosted: (post: Post) => void): HTMLElement {
  const textarea = h("textarea", { id: "compose", name: "content", rows: 3, "aria-describedby": "compose-count compose-error", placeholder: "What's on your mind?" });
  const count = h("span", { id: "compose-count", class: "count" }, `${MAX_POST} characters left`);
  const error = h("p", { id: "compose-error", class: "field-error", role: "alert", hidden: true });
  const button = h("button", { type: "submit", class: "primary", disabled: true }, "Post");
  // Kept until the post is accepted: a retried submission is recognised by the api, not posted twice.
  let key = randomKey();
  const update = (): void => {
    const used = length(textarea.value);
    const left = MAX_POST - used;
    count.textContent = left >= 0 ? `${left} characters left` : `${-left} characters too many`;
    count.classList.toggle("over", left < 0);
    button.disabled = left < 0 || textarea.value.trim() === "";
  };
  textarea.addEventListener("input", update);
  const form = h("form", { class: "card compose" }, h("label", { for: "compose" }, "New post"), textarea, h("div", { class: "row" }, count, button), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    error.hidden = true;
    try {
      const post = await api.createPost(textarea.value, key);
      key = randomKey();
      textarea.value = "";
      onPosted(post);
    } catch (problem) {
      error.textContent =
        problem instanceof ApiError && problem.code === "quota_exceeded"
          ? `You have reached today's limit of posts.${problem.retryAfter !== null ? ` You can post again in ${duration(problem.retryAfter)}.` : ""}`
          : problem instanceof ApiError && problem.errors.content
            ? problem.errors.content.join(", ")
            : message(problem);
      error.hidden = false;
    } finally {
      update();
      textarea.focus();
    }
  });
  return form;
}

function homeScreen(): void {
  const feed = new Feed<Post>("Home timeline", api.timeline, postItem, "Nothing here yet: follow someone, or write your first post.");
  screen("Home", composer((post) => feed.prepend(post)), feed.root);
  screenEvents = (event) => {
    if (event.type === "post.created") feed.prepend(event.data.post);
  };
  leaveScreen = () => feed.stop();
  void feed.load().then((page) => {
    if (page && page.data.length > 0) live.saw(page.data[0].id);
  });
}

async function profileScreen(username: string): Promise<void> {
  const visit = routes;
  let profile;
  try {
    profile = await api.lookup(username);
    // Another screen was opened meanwhile: it owns the page now.
    if (visit !== routes) return;
  } catch (error) {
    if (visit !== routes) return;
    screen("Profile");
    alertError(error);
    return;
  }
  const self = me !== null && me.id === profile.id;
  const followers = h("span", {}, String(profile.followers_count));
  const followersWord = document.createTextNode(profile.followers_count === 1 ? " follower" : " followers");
  const follow = self
    ? h("a", { href: "#/settings", class: "button" }, "Change picture")
    : h("button", { type: "button", class: "primary", "aria-pressed": String(profile.followed_by_me) }, profile.followed_by_me ? "Unfollow" : "Follow");
  if (!self) {
    let following = profile.followed_by_me;
    follow.addEventListener("click", async () => {
      (follow as HTMLButtonElement).disabled = true;
      try {
        await (following ? api.unfollow(profile.id) : api.follow(profile.id));
        following = !following;
        profile.followers_count += following ? 1 : -1;
        followers.textContent = String(profile.followers_count);
        followersWord.textContent = profile.followers_count === 1 ? " follower" : " followers";
        follow.textContent = following ? "Unfollow" : "Follow";
        follow.setAttribute("aria-pressed", String(following));
      } catch (error) {
        alertError(error);
      } finally {
        (follow as HTMLButtonElement).disabled = false;
      }
    });
  }
  const feed = new Feed<Post>(`Posts by ${profile.username}`, (before) => api.postsBy(profile.id, before), postItem, "No posts yet.");
  screen(
    displayName(profile),
    h(
      "section",
      { class: "card profile", "aria-label": "Profile" },
      avatar(profile, "l"),
      h(
        "div",
        {},
        h("p", { class: "handle" }, `@${profile.username}`),
        profile.bio ? h("p", {}, profile.bio) : null,
        h(
          "ul",
          { class: "counts" },
          h("li", {}, h("span", {}, String(profile.posts_count)), profile.posts_count === 1 ? " post" : " posts"),
          h("li", {}, followers, followersWord),
          h("li", {}, h("span", {}, String(profile.following_count)), " following"),
        ),
        follow,
      ),
    ),
    h("h2", {}, "Posts"),
    feed.root,
  );
  screenEvents = (event) => {
    if (event.type === "post.created" && event.data.post.author.id === profile.id) feed.prepend(event.data.post);
  };
  leaveScreen = () => feed.stop();
  void feed.load();
}

function searchScreen(query: string): void {
  const input = h("input", { id: "q", name: "q", type: "search", value: query, autocomplete: "off" });
  const form = h("form", { class: "card search", role: "search" }, h("label", { for: "q" }, "Search posts and people"), h("div", { class: "row" }, input, h("button", { type: "submit", class: "primary" }, "Search")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/search?q=${encodeURIComponent(input.value.trim())}`;
  });
  const people = h("div", { class: "people" });
  if (query === "") {
    screen("Search", form);
    input.focus();
    return;
  }
  const feed = new Feed<Post>(`Posts matching ${query}`, (before) => api.search(query, before), postItem, "No post matches.");
  screen("Search", form, people, h("h2", {}, "Posts"), feed.root);
  leaveScreen = () => feed.stop();
  void feed.load();
  const name = query.replace(/^@/, "");
  if (/^[A-Za-z0-9_]{3,30}$/.test(name)) {
    api.lookup(name).then(
      (profile) => fill(people, h("h2", {}, "People"), h("p", { class: "card person" }, avatar(profile), userLink(profile))),
      () => {},
    );
  }
}

function notificationItem(notification: Notification): HTMLElement {
  const what =
    notification.type === "follow" ? " followed you" : " mentioned you";
  return h(
    "li",
    { class: `notification${notification.read ? "" : " unread"}`, "data-id": notification.id },
    avatar(notification.actor),
    h(
      "div",
      { class: "body" },
      h("p", {}, notification.read ? null : h("span", { class: "visually-hidden" }, "Unread: "), userLink(notification.actor), what, " · ", time(notification.created_at)),
      notification.post ? content(notification.post) : null,
    ),
  );
}

function notificationsScreen(): void {
  let newest: string | null = null;
  const feed = new Feed<Notification>("Notifications", api.notifications, notificationItem, "No notifications yet.");
  const markAll = h("button", { type: "button", class: "primary" }, "Mark all as read");
  markAll.addEventListener("click", async () => {
    if (newest === null) return;
    markAll.disabled = true;
    try {
      await api.markRead(newest);
      feed.list.querySelectorAll(".unread").forEach((item) => {
        item.classList.remove("unread");
        item.querySelector(".visually-hidden")?.remove();
      });
      setBadge(0);
      scheduleBadge();
    } catch (error) {
      alertError(error);
    } finally {
      markAll.disabled = false;
    }
  });
  screen("Notifications", h("div", { class: "toolbar" }, markAll), feed.root);
  screenEvents = (event) => {
    if (event.type !== "notification") return;
    if (feed.prepend(event.data.notification) && (newest === null || event.id > newest)) newest = event.id;
  };
  leaveScreen = () => feed.stop();
  void feed.load().then((page) => {
    const first = page?.data[0]?.id;
    if (first && (newest === null || first > newest)) newest = first;
  });
}

function settingsScreen(): void {
  if (me === null) return;
  const preview = avatar(me, "l");
  const previewBox = h("div", { class: "preview" }, preview);
  const input = h("input", { id: "avatar", name: "file", type: "file", accept: "image/png,image/jpeg,image/webp,image/gif", "aria-describedby": "avatar-help avatar-error" });
  const status = h("p", { id: "avatar-error", class: "field-error", role: "alert", hidden: true });
  const done = h("p", { class: "success", role: "status" });
  const button = h("button", { type: "submit", class: "primary", disabled: true }, "Upload picture");
  let objectUrl: string | null = null;
  input.addEventListener("change", () => {
    const file = input.files?.[0];
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    status.hidden = true;
    done.textContent = "";
    button.disabled = !file;
    if (!file) return;
    objectUrl = URL.createObjectURL(file);
    fill(previewBox, h("img", { class: "avatar l", src: objectUrl, alt: "Preview of the new picture", width: 96, height: 96 }));
  });
  const form = h(
    "form",
    { class: "card upload" },
    previewBox,
    h("label", { for: "avatar" }, "Choose a picture"),
    input,
    h("p", { id: "avatar-help", class: "muted" }, "PNG, JPEG, WebP or GIF, at most 2 MiB. It is cropped to a square."),
    status,
    done,
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files?.[0];
    if (!file) return;
    button.disabled = true;
    try {
      me = await api.uploadAvatar(file);
      fill(previewBox, avatar(me, "l"));
      const img = previewBox.querySelector("img");
      img?.setAttribute("alt", "Your picture");
      done.textContent = "Your new picture is saved.";
      input.value = "";
      renderNav();
    } catch (error) {
      status.textContent =
        error instanceof ApiError && error.status === 413
          ? `That file is too large: ${error.message}`
          : error instanceof ApiError && error.status === 415
            ? `That file is not a picture we accept (PNG, JPEG, WebP or GIF): ${error.message}`
            : message(error);
      status.hidden = false;
      button.disabled = false;
      input.focus();
    }
  });
  screen("Settings", h("h2", {}, "Profile picture"), form);
}

// ---------------------------------------------------------------- navigation

function renderNav(): void {
  if (me === null) {
    fill(nav);
    return;
  }
  const link = (href: string, text: string, extra: Node | null = null) => h("a", { href }, text, extra);
  const badge = h("span", { id: "badge", class: "badge", hidden: true });
  const out = h("button", { type: "button", class: "link", onclick: () => void doSignOut() }, "Sign out");
  fill(
    nav,
    h(
      "ul",
      {},
      h("li", {}, link("#/", "Home")),
      h("li", {}, link("#/search", "Search")),
      h("li", {}, link("#/notifications", "Notifications", badge)),
      h("li", {}, h("a", { href: `#/u/${me.username}`, class: "me" }, avatar(me), h("span", { class: "label" }, "Profile"))),
      // On a phone, Settings is reached from one's own profile ("Change picture").
      h("li", { class: "wide" }, link("#/settings", "Settings")),
      h("li", {}, out),
    ),
  );
  markCurrent();
  void updateBadge();
}

function markCurrent(): void {
  const hash = location.hash.split("?")[0] || "#/";
  nav.querySelectorAll("a").forEach((a) => {
    if (a.getAttribute("href") === hash) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
}

async function doSignOut(): Promise<void> {
  live.stop();
  await signOut();
}

onSignedOut(() => {
  live.stop();
  me = null;
  renderNav();
  // A hash change routes by itself; an unchanged one needs the call.
  if (location.hash === "#/signin") route();
  else location.hash = "#/signin";
});

async function startSession(): Promise<void> {
  me = await api.me();
  renderNav();
  // The socket opens before the first page is read: what is posted in between
  // arrives on both and is shown once.
  live.start();
}

/** Counts screen changes, so a screen that loads slowly does not draw over the next one. */
let routes = 0;

function route(): void {
  routes += 1;
  leaveScreen();
  leaveScreen = () => {};
  screenEvents = () => {};
  markCurrent();
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  if (!isSignedIn()) {
    authScreen(path === "/signup" ? "signup" : "signin");
    return;
  }
  const profile = /^\/u\/([A-Za-z0-9_]{1,30})$/.exec(path);
  if (profile) void profileScreen(profile[1]);
  else if (path === "/search") searchScreen(params.get("q") ?? "");
  else if (path === "/notifications") notificationsScreen();
  else if (path === "/settings") settingsScreen();
  else if (path === "/signin" || path === "/signup") location.hash = "#/";
  else homeScreen();
}

async function boot(): Promise<void> {
  window.addEventListener("hashchange", route);
  // The skip link must not change the hash: that is the router's.
  document.querySelector(".skip")?.addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  if (hasStoredSession() && (await refresh())) {
    try {
      await startSession();
    } catch {
      // Signed out by the failure; the sign-in screen follows.
    }
  }
  route();
}

void boot();
