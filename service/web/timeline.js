// A session's timeline (its events, oldest first) and the version slider that shows the
// session as it was at any of them.

import { formatTime, make } from "./dom.js";

const timeline = document.getElementById("timeline");
const slider = document.getElementById("version-slider");
const label = document.getElementById("version-label");

const WORDS = { message_added: "message added", current_changed: "branch switched" };

// A line saying what the event did, from the fields it carries (as text, cut short).
function summary(event) {
  const data = event.data || {};
  if (typeof data.content === "string") {
    const text = data.content.replace(/\s+/g, " ").trim();
    const short = text.length > 80 ? `${text.slice(0, 80)}…` : text;
    return data.role ? `${data.role}: ${short}` : short;
  }
  if (typeof data.title === "string") return `title: ${data.title}`;
  return "";
}

function item(event) {
  const li = make("li", { className: "event" });
  li.dataset.seq = event.seq;
  const button = make("button", { type: "button", className: "event-button" });
  button.setAttribute("aria-label", `show version ${event.seq}`);
  const head = make("span", { className: "event-head" });
  head.append(
    make("span", { className: "event-seq", text: `#${event.seq}` }),
    make("span", { className: "event-type", text: WORDS[event.type] || event.type.replaceAll("_", " ") }),
  );
  const time = make("time", { className: "event-time", text: formatTime(event.at) });
  time.dateTime = event.at;
  button.append(head, time);
  const text = summary(event);
  if (text) button.append(make("span", { className: "event-summary", text }));
  li.append(button);
  return li;
}

export function drawTimeline(events) {
  timeline.replaceChildren(...events.map(item));
}

export function appendEvent(event) {
  timeline.append(item(event));
}

/** The slider's range (1…max) and where it stands; the event there is marked. */
export function setVersion(max, value) {
  slider.max = String(Math.max(1, max));
  slider.value = String(value);
  slider.disabled = max < 1;
  label.textContent = `version ${value} of ${max}`;
  for (const li of timeline.querySelectorAll("li.event[aria-current]")) li.removeAttribute("aria-current");
  const at = timeline.querySelector(`li.event[data-seq="${Number(value)}"]`);
  if (at) at.setAttribute("aria-current", "true");
}

export function sliderValue() {
  return Number(slider.value);
}

/** onVersion(n) when the person picks a version: the slider (settled) or an event. */
export function initTimeline({ onVersion }) {
  let timer = null;
  slider.addEventListener("input", () => {
    label.textContent = `version ${slider.value} of ${slider.max}`;
    // Dragging fires many inputs: ask for the version where the slider settles.
    clearTimeout(timer);
    timer = setTimeout(() => onVersion(Number(slider.value)), 120);
  });
  timeline.addEventListener("click", (event) => {
    const li = event.target.closest("li.event");
    if (li) onVersion(Number(li.dataset.seq));
  });
}
