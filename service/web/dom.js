// Small DOM helpers. Text always goes in as text (textContent): what the API says never
// becomes markup.

/** An element with a class, text and attributes: make("li", {className, text, href}). */
export function make(tag, { text, ...props } = {}) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value !== undefined && value !== null) element[name] = value;
  }
  if (text !== undefined && text !== null) element.textContent = String(text);
  return element;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** An RFC 3339 instant, in the reader's time zone. */
export function formatTime(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value ?? "") : timeFormat.format(date);
}
