// The API, as the page calls it: JSON in and out, the kept key as a Bearer token, errors in
// the API's own shape ({"error": {code, message, field}}) turned into ApiError.

const KEY_NAME = "orion.key";

// Kept in sessionStorage: for this tab only, gone when it closes, never in a URL.
export function getKey() {
  return sessionStorage.getItem(KEY_NAME);
}

export function setKey(key) {
  sessionStorage.setItem(KEY_NAME, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_NAME);
}

export function authHeaders() {
  const key = getKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "error";
    this.field = error.field || null;
  }
}

// app.js sets these: what to do on a 401 (ask for a key) and how to show an error.
const hooks = { unauthorized: () => {}, report: () => {} };

export function setHooks(next) {
  Object.assign(hooks, next);
}

export function unauthorized() {
  hooks.unauthorized();
}

/** Show an error to the person (the API's message, or what went wrong on the way). */
export function report(error) {
  if (error && error.name === "AbortError") return;
  if (error instanceof ApiError && error.status === 401) return; // the key dialog says it
  hooks.report(error instanceof ApiError ? error.message : `Could not reach the service (${error})`);
}

/** The `rel="next"` URL of a Link header, or null. */
export function nextLink(header) {
  if (!header) return null;
  for (const part of header.split(",")) {
    const match = part.match(/<([^>]*)>(.*)/);
    const rel = match && match[2].match(/;\s*rel\s*=\s*"?([^";]*)"?/);
    if (rel && rel[1].split(/\s+/).includes("next")) return match[1];
  }
  return null;
}

async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error) return new ApiError(response.status, body.error);
  } catch {
    // Not JSON (a proxy's page, say): fall through to the status line.
  }
  return new ApiError(response.status, { message: `${response.status} ${response.statusText}` });
}

/**
 * One call. Answers {data, etag, next}; throws ApiError for an error answer (after asking for
 * a key on a 401).
 */
export async function api(path, { method = "GET", body, headers = {}, signal } = {}) {
  const init = { method, signal, headers: { Accept: "application/json", ...authHeaders(), ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) {
    if (response.status === 401) unauthorized();
    throw await errorOf(response);
  }
  const type = response.headers.get("Content-Type") || "";
  let data = null;
  if (response.status !== 204) data = type.includes("json") ? await response.json() : await response.text();
  return { data, etag: response.headers.get("ETag"), next: nextLink(response.headers.get("Link")) };
}

/** Every page of a list, following Link rel="next". */
export async function apiAll(path, options = {}) {
  const items = [];
  for (let url = path; url; ) {
    const { data, next } = await api(url, options);
    items.push(...data);
    url = next;
  }
  return items;
}

/** Fetch a file with the key and save it: a plain link could not send the header. */
export async function download(path, fallbackName) {
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) {
    if (response.status === 401) unauthorized();
    throw await errorOf(response);
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const named = disposition.match(/filename="?([^";]+)"?/);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = named ? named[1] : fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  // Give the browser a moment to start the download before the URL goes.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
