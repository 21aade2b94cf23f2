// The session list (left): most recent first, search, paging with "more", kept current by the
// global feed.

import { api, report } from "./api.js";
import { follow } from "./sse.js";
import { formatTime, make } from "./dom.js";

const PAGE = 30;

const list = document.getElementById("session-list");
const more = document.getElementById("more-sessions");
const caption = document.getElementById("list-caption");
const searchForm = document.getElementById("search-form");
const searchInput = document.getElementById("search-input");

let next = null; // the next page's URL while listing sessions
let searching = false; // search results are left alone by live updates
let selected = null;
let loads = 0; // only the newest load may draw, so a slow answer never overwrites a newer one

function item(session) {
  const li = make("li", { className: "session-item" });
  li.dataset.sessionId = session.id;
  const link = make("a", { href: `/sessions/${encodeURIComponent(session.id)}` });
  link.append(make("span", { className: "session-title", text: session.title || "Untitled" }));
  const details = make("span", { className: "session-details" });
  const time = make("time", { className: "session-updated", text: formatTime(session.updated_at) });
  time.dateTime = session.updated_at;
  const count = session.message_count === 1 ? "1 message" : `${session.message_count} messages`;
  details.append(time, make("span", { className: "session-count", text: count }));
  link.append(details);
  li.append(link);
  if (session.id === selected) li.setAttribute("aria-current", "true");
  return li;
}

function draw(sessions, append) {
  if (!append) list.replaceChildren();
  list.append(...sessions.map(item));
  if (!list.children.length) {
    list.append(make("li", { className: "list-empty", text: searching ? "Nothing matches." : "No sessions yet." }));
  }
}

export async function loadSessions() {
  const load = ++loads;
  searching = false;
  caption.textContent = "Most recent first";
  try {
    const { data, next: link } = await api(`/api/sessions?limit=${PAGE}`);
    if (load !== loads) return;
    next = link;
    more.hidden = !next;
    draw(data, false);
  } catch (error) {
    report(error);
  }
}

async function loadMore() {
  if (!next) return;
  const load = ++loads;
  more.disabled = true;
  try {
    const { data, next: link } = await api(next);
    if (load !== loads) return;
    next = link;
    draw(data, true);
  } catch (error) {
    report(error);
  } finally {
    more.disabled = false;
    more.hidden = !next;
  }
}

async function search(query) {
  const load = ++loads;
  searching = true;
  more.hidden = true;
  next = null;
  try {
    const { data } = await api(`/api/search?q=${encodeURIComponent(query)}&limit=50`);
    if (load !== loads) return;
    caption.textContent = `${data.total} ${data.total === 1 ? "session matches" : "sessions match"} “${query}”`;
    draw(data.hits.map((hit) => hit.session), false);
  } catch (error) {
    report(error);
  }
}

/** Mark the open session (null: none). */
export function select(id) {
  selected = id;
  for (const li of list.querySelectorAll(".session-item")) {
    if (li.dataset.sessionId === id) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
  }
}

export function initList({ navigate }) {
  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = searchInput.value.trim();
    if (query) search(query);
    else loadSessions();
  });
  more.addEventListener("click", loadMore);
  // Links stay real links (open in a new tab works); a plain click stays in the page.
  list.addEventListener("click", (event) => {
    const link = event.target.closest("a");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(link.getAttribute("href"));
  });

  // Any event (created, changed, deleted) moves a session in the order: reload the first page,
  // at most every half second however many events come.
  let timer = null;
  follow("/api/events/stream", {
    onEvent: () => {
      if (searching || timer) return;
      timer = setTimeout(() => {
        timer = null;
        if (!searching) loadSessions();
      }, 500);
    },
    onReset: () => {
      if (!searching) loadSessions();
    },
  });
  loadSessions();
}
