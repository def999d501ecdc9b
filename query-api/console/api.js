// The REST client: the access token lives in memory only; the rotating refresh token in this
// tab's sessionStorage (it survives a reload, not the tab). Every call refreshes an expired
// access token first, and retries once after a 401.

const REFRESH_KEY = "rtcx.refresh_token";
let access = null;
let accessUntil = 0;
let refreshing = null;
let me = null;
const signedOutListeners = [];

export class ApiError extends Error {
  constructor(status, body) {
    const details = body?.error?.details || {};
    const fields = Object.entries(details).map(([field, why]) => `${field}: ${why}`);
    super([body?.error?.message || `HTTP ${status}`, ...fields].join("; "));
    this.status = status;
    this.code = body?.error?.code || "http_error";
    this.details = details;
  }
}

/** Query string from an object, leaving out empty values. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== null && v !== undefined && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : "";
}

function keep(tokens) {
  access = tokens.access_token;
  accessUntil = Date.now() + Math.max(tokens.expires_in - 30, 5) * 1000;
  sessionStorage.setItem(REFRESH_KEY, tokens.refresh_token);
}

function forget() {
  access = null;
  accessUntil = 0;
  me = null;
  sessionStorage.removeItem(REFRESH_KEY);
}

async function send(method, path, body, token) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

/** Trades the stored refresh token for new tokens (one request at a time). */
function refresh() {
  if (!refreshing) {
    const token = sessionStorage.getItem(REFRESH_KEY);
    refreshing = (async () => {
      if (!token) throw new ApiError(401, { error: { code: "unauthorized", message: "not signed in" } });
      try {
        keep(await send("POST", "/v1/auth/refresh", { refresh_token: token }));
      } catch (e) {
        if (e.status === 401 || e.status === 400) signedOut();
        throw e;
      }
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

function signedOut() {
  forget();
  for (const f of signedOutListeners) f();
}

export function onSignedOut(f) {
  signedOutListeners.push(f);
}

/** A valid access token (for the live socket's first message). */
export async function accessToken() {
  if (!access || Date.now() >= accessUntil) await refresh();
  return access;
}

/** Calls the API as the signed-in user. */
export async function api(method, path, body) {
  const token = await accessToken();
  try {
    return await send(method, path, body, token);
  } catch (e) {
    if (e.status !== 401) throw e;
    await refresh();
    return send(method, path, body, access);
  }
}

export const get = (path, params) => api("GET", path + qs(params));

export async function login(email, password) {
  keep(await send("POST", "/v1/auth/login", { email, password }));
  return whoAmI();
}

/** The signed-in user with its permissions, after a reload: null when there is no session. */
export async function resume() {
  if (!sessionStorage.getItem(REFRESH_KEY)) return null;
  try {
    await refresh();
    return await whoAmI();
  } catch {
    return null;
  }
}

async function whoAmI() {
  me = await api("GET", "/v1/auth/me");
  return me;
}

export const user = () => me;

/** Whether the signed-in user's role has a permission (docs/permissions.md). */
export const can = (permission) => Boolean(me && me.permissions.includes(permission));

export async function logout() {
  try {
    if (access) await send("POST", "/v1/auth/logout", undefined, access);
  } finally {
    signedOut();
  }
}

/** A file download (CSV/Parquet export) with the access token, saved under `name`. */
export async function download(path, name) {
  const token = await accessToken();
  const resp = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
  const url = URL.createObjectURL(await resp.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
