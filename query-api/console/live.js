// The live socket (docs/live.md): authenticated by its first message, rooms re-joined after
// every reconnect, reconnects with a growing delay. Views subscribe with a filter and get the
// server's messages by type ("feedback", "alert", "dashboard").

import { accessToken } from "./api.js";

let socket = null;
let wanted = new Map(); // room -> filter
let listeners = new Map(); // type -> Set of functions
let retry = 1000;
let timer = null;
let stopped = true;
let stateListener = () => {};

export function onState(f) {
  stateListener = f;
}

export function on(type, f) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(f);
  return () => listeners.get(type)?.delete(f);
}

function emit(type, msg) {
  for (const f of listeners.get(type) || []) f(msg);
}

function sendJson(msg) {
  if (socket && socket.readyState === WebSocket.OPEN && socket.authenticated) socket.send(JSON.stringify(msg));
}

/** Joins a room (or replaces its filter). */
export function subscribe(room, filter = {}) {
  wanted.set(room, filter);
  sendJson({ type: "subscribe", room, filter });
}

export function unsubscribe(room) {
  if (wanted.delete(room)) sendJson({ type: "unsubscribe", room });
}

export async function start() {
  stopped = false;
  if (socket) return;
  let token;
  try {
    token = await accessToken();
  } catch (e) {
    // Signed out (401): the shell shows the sign-in. Otherwise the API is unreachable: retry.
    if (e.status !== 401 && !stopped) {
      stateListener("reconnecting");
      clearTimeout(timer);
      timer = setTimeout(start, retry);
      retry = Math.min(retry * 2, 30_000);
    }
    return;
  }
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`;
  const ws = new WebSocket(url);
  socket = ws;
  stateListener("connecting");
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token }));
  ws.onmessage = (ev) => {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (msg.type === "welcome") {
      ws.authenticated = true;
      retry = 1000;
      stateListener("live");
      for (const [room, filter] of wanted) sendJson({ type: "subscribe", room, filter });
    } else if (msg.type === "resync") {
      emit("resync", msg);
    } else {
      emit(msg.type, msg);
    }
  };
  ws.onclose = () => {
    if (socket === ws) socket = null;
    if (stopped) return;
    stateListener("reconnecting");
    clearTimeout(timer);
    timer = setTimeout(start, retry);
    retry = Math.min(retry * 2, 30_000);
  };
}

export function stop() {
  stopped = true;
  clearTimeout(timer);
  wanted = new Map();
  listeners = new Map();
  if (socket) socket.close(1000, "signed out");
  socket = null;
  stateListener("off");
}
