// The history browser's entry: routing (/ and /sessions/<id>, with pushState and back/forward),
// the key dialog, the error notice, and the wiring of the list, the session and the panels.

import { forgetKey, getKey, setHooks, setKey } from "./api.js";
import { initList, select } from "./list.js";
import { closeSession, initSession, openSession } from "./session.js";
import { initPanels } from "./panels.js";

const notice = document.getElementById("notice");
const keyDialog = document.getElementById("key-dialog");
const keyForm = document.getElementById("key-form");
const keyInput = document.getElementById("key-input");
const forgetButton = document.getElementById("forget-key");

let noticeTimer = null;
function showNotice(text) {
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (notice.hidden = true), 8000);
}

function askForKey() {
  if (keyDialog.open) return;
  keyInput.value = "";
  // A key was kept and still the service said 401: it is wrong, revoked or its user disabled.
  document.getElementById("key-error").hidden = !getKey();
  keyDialog.showModal();
  keyInput.focus();
}

// The session named by the URL, or none.
function route() {
  const match = location.pathname.match(/^\/sessions\/([^/]+)\/?$/);
  const id = match ? decodeURIComponent(match[1]) : null;
  if (id) openSession(id);
  else closeSession();
  select(id);
}

function navigate(path) {
  if (path !== location.pathname) history.pushState(null, "", path);
  route();
  // Move focus to the session for keyboard and screen-reader users; on one column (a phone)
  // the session is below the list, so bring it into view.
  const area = document.getElementById("session-area");
  area.focus({ preventScroll: true });
  if (window.matchMedia("(max-width: 700px)").matches) area.scrollIntoView({ block: "start" });
}

setHooks({ unauthorized: askForKey, report: showNotice });

keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) return;
  setKey(key);
  keyDialog.close();
  // Everything loads again with the key: the simplest way to restart every stream with it.
  location.reload();
});
// Escape closes a modal dialog; without a key nothing can be read, so keep asking.
keyDialog.addEventListener("cancel", (event) => event.preventDefault());

forgetButton.hidden = !getKey();
forgetButton.addEventListener("click", () => {
  forgetKey();
  location.reload();
});

notice.addEventListener("click", () => (notice.hidden = true));
document.getElementById("home-link").addEventListener("click", (event) => {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate("/");
});
// Links to a session anywhere in the page (the damaged list) stay in the page too.
document.querySelector(".side-panel").addEventListener("click", (event) => {
  const link = event.target.closest('a[href^="/sessions/"]');
  if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", route);

initSession();
initList({ navigate });
initPanels();
route();
