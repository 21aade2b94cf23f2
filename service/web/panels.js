// Health (refreshed every 10 s, damaged sessions named) and the settings form (PATCH of what
// changed, with If-Match so a change made elsewhere meanwhile is not overwritten).

import { api } from "./api.js";
import { make } from "./dom.js";

const healthStatus = document.getElementById("health-status");
const healthSummary = document.getElementById("health-summary");
const damaged = document.getElementById("damaged-sessions");
const form = document.getElementById("settings-form");
const fields = document.getElementById("settings-fields");
const save = document.getElementById("settings-save");
const status = document.getElementById("settings-status");

const THEMES = ["dark", "light", "auto"];
// Known ranges (SPEC §4), so the browser helps before the API has to refuse.
const NUMBERS = { temperature: { min: 0, max: 2, step: 0.1 }, max_tokens: { min: 1, max: 1_000_000, step: 1 } };

async function refreshHealth() {
  try {
    const { data } = await api("/api/health");
    healthStatus.textContent = data.status;
    healthStatus.dataset.status = data.status;
    const parts = [];
    if (data.sessions !== undefined) parts.push(`${data.sessions} sessions`);
    if (data.events !== undefined) parts.push(`${data.events} events`);
    if (data.search) parts.push(`search ${data.search}`);
    healthSummary.textContent = parts.join(" · ");
    const problems = data.problems || {};
    damaged.replaceChildren(
      ...(data.read_only_sessions || []).map((id) => {
        const li = make("li");
        li.dataset.sessionId = id;
        // A session's log links to it; a damaged directory ("sessions/") is only named.
        const isSession = /^[0-9a-f-]{36}$/i.test(id);
        const name = isSession
          ? make("a", { href: `/sessions/${encodeURIComponent(id)}`, className: "damaged-id", text: id })
          : make("span", { className: "damaged-id", text: id });
        li.append(name);
        li.append(make("span", { className: "damaged-problem", text: problems[id] || "read-only" }));
        return li;
      }),
    );
  } catch {
    healthStatus.textContent = "unreachable";
    healthStatus.dataset.status = "unreachable";
  }
}

let settings = null; // as last read or saved
let etag = null;

const LABELS = { auto_play_tts: "Auto-play speech (TTS)", default_model: "Default model", max_tokens: "Max tokens" };
const label = (key) => LABELS[key] || key.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());

function control(key, value) {
  const id = `setting-${key}`;
  const row = make("div", { className: "setting" });
  let input;
  if (key === "theme") {
    input = make("select", { id, name: key });
    const choices = THEMES.includes(value) ? THEMES : [...THEMES, value];
    for (const choice of choices) input.append(make("option", { value: choice, text: choice }));
    input.value = value;
  } else if (typeof value === "boolean") {
    input = make("input", { id, name: key, type: "checkbox", checked: value });
    row.classList.add("setting-check");
  } else if (typeof value === "number") {
    input = make("input", { id, name: key, type: "number", value: String(value), ...(NUMBERS[key] || { step: "any" }) });
  } else {
    input = make("input", { id, name: key, type: "text", value: String(value ?? "") });
  }
  row.append(make("label", { htmlFor: id, text: label(key) }), input);
  return row;
}

function drawSettings() {
  fields.replaceChildren(...Object.entries(settings).map(([key, value]) => control(key, value)));
}

// What the form says each setting is now, typed as the API has it.
function formValue(key) {
  const input = form.elements.namedItem(key);
  const was = settings[key];
  if (typeof was === "boolean") return input.checked;
  if (typeof was === "number") return input.value === "" ? null : Number(input.value);
  return input.value;
}

async function loadSettings() {
  try {
    const answer = await api("/api/settings");
    settings = answer.data;
    etag = answer.etag;
    drawSettings();
  } catch (error) {
    if (error.status !== 401) status.textContent = error.message; // 401: the key dialog asks
  }
}

async function saveSettings(event) {
  event.preventDefault();
  if (!settings) return;
  const changed = {};
  for (const key of Object.keys(settings)) {
    const value = formValue(key);
    if (value !== settings[key]) changed[key] = value;
  }
  status.dataset.state = "";
  if (!Object.keys(changed).length) {
    status.textContent = "saved";
    return;
  }
  save.disabled = true;
  status.textContent = "saving…";
  try {
    const answer = await api("/api/settings", {
      method: "PATCH",
      body: changed,
      headers: etag ? { "If-Match": etag } : {},
    });
    settings = answer.data;
    etag = answer.etag || etag;
    drawSettings();
    status.textContent = "saved";
    status.dataset.state = "ok";
  } catch (error) {
    status.textContent = error.message;
    status.dataset.state = "error";
    if (error.status === 412) {
      // Changed elsewhere meanwhile: show what is there now; the message says why.
      await loadSettings();
    } else if (error.field) {
      const input = form.elements.namedItem(error.field);
      if (input && input.focus) input.focus();
    }
  } finally {
    save.disabled = false;
  }
}

export function initPanels() {
  refreshHealth();
  setInterval(refreshHealth, 10_000);
  form.addEventListener("submit", saveSettings);
  // The API judges the values (the form has novalidate) so its own message is shown; an edit
  // clears the last verdict.
  form.addEventListener("input", () => {
    status.textContent = "";
    status.dataset.state = "";
  });
  loadSettings();
}
