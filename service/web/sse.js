// Server-Sent Events read over fetch (EventSource cannot send the Authorization header), with
// resume by Last-Event-ID and reconnection with backoff, as SPEC §12 has the streams behave.

import { authHeaders, unauthorized } from "./api.js";

const MAX_DELAY = 30_000;

/**
 * Follow a stream. `lastEventId`: resume after it (null: from now on). Callbacks:
 * onEvent(type, data, id) for each event, onReset(data) when the server says our resume point
 * is ahead of it, onStatus("live" | "reconnecting"). Answers {close()}.
 */
export function follow(url, { lastEventId = null, onEvent, onReset = () => {}, onStatus = () => {} }) {
  let lastId = lastEventId === null ? null : String(lastEventId);
  let retry = 2000;
  let delay = retry;
  let closed = false;
  let controller = null;

  // One parsed message: the fields of the lines before a blank line.
  function dispatch(message) {
    if (message.id !== undefined) lastId = message.id;
    if (message.data === undefined) return; // a message without data dispatches nothing
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      data = message.data;
    }
    const type = message.event || "message";
    if (type === "reset") {
      // Our resume point is beyond the stream (a restored backup, say): go on from its end.
      if (data && data.resume_after !== undefined) lastId = String(data.resume_after);
      onReset(data);
    } else if (type === "error") {
      // Too far behind: the server ends the stream; resume where it says.
      if (data && data.resume_after !== undefined) lastId = String(data.resume_after);
    } else {
      onEvent(type, data, message.id ?? lastId);
    }
  }

  async function readOnce() {
    controller = new AbortController();
    const headers = { Accept: "text/event-stream", ...authHeaders() };
    if (lastId !== null) headers["Last-Event-ID"] = lastId;
    const response = await fetch(url, { headers, signal: controller.signal, cache: "no-store" });
    if (response.status === 401) {
      closed = true; // no point retrying without a key; the page loads again once one is given
      unauthorized();
      return;
    }
    if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
    onStatus("live");
    delay = retry;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let message = {};
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      // Lines end with \r\n, \n or \r; a \r at the very end may be half of a \r\n.
      const lines = buffer.split(/\r\n|\n|\r(?!$)/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") {
          dispatch(message);
          message = {};
          continue;
        }
        if (line.startsWith(":")) continue; // a comment: the heartbeat
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") message.data = message.data === undefined ? value : `${message.data}\n${value}`;
        else if (field === "event") message.event = value;
        else if (field === "id" && !value.includes("\0")) message.id = value;
        else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
      }
    }
  }

  (async () => {
    while (!closed) {
      try {
        await readOnce();
      } catch {
        // A dropped connection or a refused one: try again below.
      }
      if (closed) break;
      onStatus("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, MAX_DELAY);
    }
  })();

  return {
    close() {
      closed = true;
      if (controller) controller.abort();
    },
  };
}
