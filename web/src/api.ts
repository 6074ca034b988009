// The REST contract (API.md) as typed calls, and the session's tokens.
//
// Token storage: the access token lives only in memory; the refresh token in
// sessionStorage, so a reload of the same tab stays signed in while other tabs,
// other windows and a restarted browser do not share it (see README).

export interface Author {
  id: string;
  username: string;
  display_name: string | null;
  avatar_url: string | null;
}

export interface Post {
  id: string;
  author: Author;
  content: string;
  mentions: { id: string; username: string }[];
  created_at: string;
}

export interface User extends Author {
  email: string | null;
  bio: string | null;
  role: "user" | "admin";
  created_at: string;
}

export interface Profile extends Author {
  bio: string | null;
  created_at: string;
  followers_count: number;
  following_count: number;
  posts_count: number;
  followed_by_me: boolean;
}

export interface Notification {
  id: string;
  type: "follow" | "mention";
  actor: Author;
  post?: Post;
  created_at: string;
  read: boolean;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

interface Tokens {
  access_token: string;
  expires_in: number;
  refresh_token: string;
}

/** A problem+json answer (RFC 9457), or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly errors: Record<string, string[]> = {},
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

const REFRESH_KEY = "social.refresh";
// Refresh this long before the access token expires, so a request never
// carries a token that dies on the way.
const REFRESH_MARGIN_S = 60;

let accessToken: string | null = null;
let refreshTimer: number | undefined;
let refreshing: Promise<boolean> | null = null;
const signedOutListeners: (() => void)[] = [];

export function onSignedOut(listener: () => void): void {
  signedOutListeners.push(listener);
}

export function isSignedIn(): boolean {
  return accessToken !== null;
}

export function hasStoredSession(): boolean {
  return sessionStorage.getItem(REFRESH_KEY) !== null;
}

function adopt(tokens: Tokens): void {
  accessToken = tokens.access_token;
  sessionStorage.setItem(REFRESH_KEY, tokens.refresh_token);
  window.clearTimeout(refreshTimer);
  const delay = Math.max(5, tokens.expires_in - REFRESH_MARGIN_S) * 1000;
  refreshTimer = window.setTimeout(() => void refresh(), delay);
}

function forget(): void {
  accessToken = null;
  sessionStorage.removeItem(REFRESH_KEY);
  window.clearTimeout(refreshTimer);
}

async function problemOf(response: Response): Promise<ApiError> {
  const retry = response.headers.get("retry-after");
  const retryAfter = retry === null ? null : Number(retry);
  try {
    const body = await response.json();
    return new ApiError(
      response.status,
      String(body.code ?? "error"),
      String(body.detail ?? body.title ?? response.statusText),
      body.errors ?? {},
      retryAfter,
    );
  } catch {
    return new ApiError(response.status, "error", response.statusText || `HTTP ${response.status}`, {}, retryAfter);
  }
}

async function send(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  bearer = true,
): Promise<Response> {
  const init: RequestInit = { method, headers: { ...headers }, credentials: "omit", cache: "no-store" };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    (init.headers as Record<string, string>)["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (bearer && accessToken !== null) {
    (init.headers as Record<string, string>).authorization = `Bearer ${accessToken}`;
  }
  try {
    return await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection and try again.");
  }
}

/** Calls the api; on an expired token refreshes once and retries. */
export async function call<T>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
  let response = await send(method, path, body, headers);
  if (response.status === 401 && accessToken !== null && (await refresh())) {
    response = await send(method, path, body, headers);
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    if (response.status === 401 && accessToken !== null) {
      signOutLocally();
    }
    throw problem;
  }
  if (response.status === 204) {
    return undefined as T;
  }
  return (await response.json()) as T;
}

/** Trades the stored refresh token for new tokens; false (signed out) if it no longer works. */
export function refresh(): Promise<boolean> {
  // One refresh at a time: the refresh token rotates, and presenting a spent
  // one would revoke the whole session.
  refreshing ??= (async () => {
    const token = sessionStorage.getItem(REFRESH_KEY);
    if (token === null) return false;
    try {
      const response = await send("POST", "/api/v1/auth/refresh", { refresh_token: token }, {}, false);
      if (response.ok) {
        adopt((await response.json()) as Tokens);
        return true;
      }
      if (response.status === 401) {
        signOutLocally();
        return false;
      }
      return false;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export async function signIn(username: string, password: string): Promise<void> {
  adopt(await call<Tokens>("POST", "/api/v1/auth/login", { username, password }));
}

export async function signUp(username: string, password: string, email: string): Promise<void> {
  const body: Record<string, string> = { username, password };
  if (email !== "") body.email = email;
  await call<User>("POST", "/api/v1/auth/register", body);
  await signIn(username, password);
}

function signOutLocally(): void {
  const wasSignedIn = accessToken !== null || hasStoredSession();
  forget();
  if (wasSignedIn) signedOutListeners.forEach((listener) => listener());
}

export async function signOut(): Promise<void> {
  const refreshToken = sessionStorage.getItem(REFRESH_KEY);
  try {
    if (accessToken !== null) await call<void>("POST", "/api/v1/auth/logout", refreshToken ? { refresh_token: refreshToken } : {});
  } catch {
    // Signed out locally all the same: the tokens are forgotten below.
  }
  signOutLocally();
}

export const api = {
  me: () => call<User>("GET", "/api/v1/users/me"),
  lookup: (username: string) => call<Profile>("GET", `/api/v1/users/lookup?username=${encodeURIComponent(username)}`),
  timeline: (before: string | null) => call<Page<Post>>("GET", `/api/v1/timeline${cursor(before)}`),
  postsBy: (id: string, before: string | null) => call<Page<Post>>("GET", `/api/v1/users/${id}/posts${cursor(before)}`),
  search: (q: string, before: string | null) =>
    call<Page<Post>>("GET", `/api/v1/posts?q=${encodeURIComponent(q)}${before ? `&before=${before}` : ""}`),
  createPost: (content: string, key: string) => call<Post>("POST", "/api/v1/posts", { content }, { "idempotency-key": key }),
  deletePost: (id: string) => call<void>("DELETE", `/api/v1/posts/${id}`),
  follow: (id: string) => call<void>("PUT", `/api/v1/users/${id}/follow`),
  unfollow: (id: string) => call<void>("DELETE", `/api/v1/users/${id}/follow`),
  notifications: (before: string | null) => call<Page<Notification>>("GET", `/api/v1/notifications${cursor(before)}`),
  unreadCount: () => call<{ count: number }>("GET", "/api/v1/notifications/unread_count"),
  markRead: (upTo: string) => call<void>("POST", "/api/v1/notifications/read", { up_to: upTo }),
  uploadAvatar: (file: File) => {
    const form = new FormData();
    form.append("file", file);
    return call<User>("PUT", "/api/v1/users/me/avatar", form);
  },
  wsTicket: () => call<{ ticket: string }>("POST", "/api/v1/auth/ws-ticket"),
};

function cursor(before: string | null): string {
  return before ? `?before=${encodeURIComponent(before)}` : "";
}
