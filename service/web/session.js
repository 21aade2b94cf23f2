// One session (right): its current branch with "< i/n >" switchers, its timeline and time
// travel, exports, and the live stream that keeps all of it current.

import { api, apiAll, download, report } from "./api.js";
import { follow } from "./sse.js";
import { formatTime, make } from "./dom.js";
import { appendEvent, drawTimeline, initTimeline, setVersion } from "./timeline.js";

const view = document.getElementById("session-view");
const welcome = document.getElementById("welcome");
const title = document.getElementById("session-title");
const meta = document.getElementById("session-meta");
const messageList = document.getElementById("message-list");
const live = document.getElementById("live-status");
const pastBanner = document.getElementById("past-banner");

// The open session: its id, its latest body, its latest version (the slider's max), the
// version shown when looking at the past (null: now), and its stream.
let state = null;

const path = (id) => `/api/sessions/${encodeURIComponent(id)}`;
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function siblingSwitch(message, past) {
  const siblings = message.sibling_ids || [];
  const place = siblings.indexOf(message.id);
  const box = make("span", { className: "sibling-switch" });
  const prev = make("button", { type: "button", className: "sibling-prev", text: "<" });
  prev.setAttribute("aria-label", "previous version");
  prev.disabled = past || place <= 0;
  const position = make("span", { className: "sibling-position", text: `${place + 1}/${siblings.length}` });
  const next = make("button", { type: "button", className: "sibling-next", text: ">" });
  next.setAttribute("aria-label", "next version");
  next.disabled = past || place >= siblings.length - 1;
  prev.addEventListener("click", () => switchTo(siblings[place - 1]));
  next.addEventListener("click", () => switchTo(siblings[place + 1]));
  box.append(prev, position, next);
  return box;
}

function messageItem(message, past) {
  const li = make("li", { className: "message" });
  li.dataset.messageId = message.id;
  li.dataset.role = message.role;
  const head = make("div", { className: "message-head" });
  head.append(make("span", { className: "message-role", text: message.role }));
  if (message.model) head.append(make("span", { className: "message-model", text: message.model }));
  const time = make("time", { className: "message-time", text: formatTime(message.timestamp) });
  time.dateTime = message.timestamp;
  head.append(time);
  if ((message.sibling_ids || []).length > 1) head.append(siblingSwitch(message, past));
  li.append(head, make("div", { className: "message-text", text: message.content }));
  return li;
}

function drawSession(session, past = false) {
  title.textContent = session.title || "Untitled";
  document.title = `${session.title || "Untitled"} — Orion`;
  meta.textContent = [
    `created ${formatTime(session.created_at)}`,
    `updated ${formatTime(session.updated_at)}`,
    `version ${session.version}`,
    plural(session.message_count, "message"),
  ].join(" · ");
  const items = session.messages.map((message) => messageItem(message, past));
  if (!items.length) items.push(make("li", { className: "list-empty", text: "No messages at this version." }));
  messageList.replaceChildren(...items);
}

async function switchTo(messageId) {
  if (!state || state.viewing !== null || !messageId) return;
  const id = state.id;
  try {
    const { data } = await api(`${path(id)}/current`, { method: "PUT", body: { message_id: messageId } });
    if (!state || state.id !== id) return;
    state.latest = data;
    if (state.viewing === null) drawSession(data);
  } catch (error) {
    report(error);
  }
}

// The session as it is now, drawn unless the past is shown.
async function reloadNow() {
  const opened = state;
  if (!opened) return;
  try {
    const { data } = await api(path(opened.id));
    if (state !== opened) return;
    opened.latest = data;
    if (opened.viewing === null) drawSession(data);
  } catch (error) {
    if (state === opened) report(error);
  }
}

async function showVersion(version) {
  if (!state) return;
  if (version >= state.max) return backToNow();
  const opened = state;
  opened.viewing = version;
  view.dataset.version = String(version);
  pastBanner.hidden = false;
  setVersion(opened.max, version);
  try {
    const { data } = await api(`${path(opened.id)}?version=${version}`);
    if (state === opened && opened.viewing === version) drawSession(data, true);
  } catch (error) {
    report(error);
  }
}

function backToNow() {
  if (!state) return;
  state.viewing = null;
  delete view.dataset.version;
  pastBanner.hidden = true;
  setVersion(state.max, state.max);
  if (state.latest) drawSession(state.latest);
  reloadNow();
}

let reloadTimer = null;
function onEvent(opened, event) {
  if (state !== opened || typeof event !== "object" || event.seq <= opened.max) return;
  appendEvent(event);
  opened.max = event.seq;
  setVersion(opened.max, opened.viewing ?? opened.max);
  if (opened.viewing !== null) return;
  // A burst of events (an import, a fast chat) becomes one reload.
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(reloadNow, 100);
}

// Load the body and every page of events, then follow the stream from the last one seen.
async function load(opened) {
  const [{ data: session }, events] = await Promise.all([
    api(path(opened.id)),
    apiAll(`${path(opened.id)}/events?limit=1000`),
  ]);
  if (state !== opened) return;
  opened.latest = session;
  opened.max = Math.max(session.version, events.length ? events[events.length - 1].seq : 0);
  drawTimeline(events);
  if (opened.viewing === null || opened.viewing >= opened.max) {
    opened.viewing = null;
    setVersion(opened.max, opened.max);
    drawSession(session);
    if (opened.max > session.version) reloadNow();
  } else {
    setVersion(opened.max, opened.viewing);
  }
  if (opened.stream) opened.stream.close();
  opened.stream = follow(`${path(opened.id)}/events/stream`, {
    lastEventId: opened.max,
    onEvent: (_type, event) => onEvent(opened, event),
    // Our resume point is beyond the log (restored from a backup): start over from what is.
    onReset: () => state === opened && load(opened).catch(report),
    onStatus: (status) => {
      if (state === opened) live.textContent = status === "live" ? "live" : "reconnecting…";
      view.dataset.live = status;
    },
  });
}

export function openSession(id) {
  if (state && state.id === id) return;
  closeSession();
  const opened = { id, latest: null, max: 0, viewing: null, stream: null };
  state = opened;
  welcome.hidden = true;
  view.hidden = false;
  delete view.dataset.version;
  pastBanner.hidden = true;
  live.textContent = "reconnecting…";
  title.textContent = "Loading…";
  meta.textContent = "";
  messageList.replaceChildren();
  drawTimeline([]);
  load(opened).catch((error) => {
    if (state !== opened) return;
    const titles = { 401: "A key is needed", 404: "No such session" };
    title.textContent = titles[error.status] || "The session could not be opened";
    meta.textContent = error.message;
    report(error);
  });
}

export function closeSession() {
  if (state && state.stream) state.stream.close();
  state = null;
  view.hidden = true;
  welcome.hidden = false;
  document.title = "Orion — chat history";
}

export function initSession() {
  initTimeline({ onVersion: showVersion });
  document.getElementById("back-to-now").addEventListener("click", backToNow);
  for (const format of ["json", "markdown"]) {
    document.getElementById(`export-${format}`).addEventListener("click", () => {
      if (!state) return;
      const extension = format === "json" ? "json" : "md";
      download(`${path(state.id)}/export?format=${format}`, `session-${state.id}.${extension}`).catch(report);
    });
  }
}
