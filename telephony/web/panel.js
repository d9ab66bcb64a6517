// The agent panel: plain JavaScript, no build step, talking to this engine's API only.
//
// Sign-in: the API token (when the engine asks for one) is kept in sessionStorage and
// sent as "Authorization: Bearer"; it is never written into the page. Who I am (an
// agent id, not a secret) is kept in localStorage.
// Live updates: /api/events is read with fetch() and a stream reader (EventSource
// cannot send an Authorization header); after a drop the stream is resumed with
// Last-Event-ID, so no change is missed.
// Times: the API gives ISO 8601 times with the site's offset and /api/agents the
// site's time zone; they are shown as wall-clock times in that zone ("in focus until
// 21:35"), whatever zone the browser is in.
"use strict";

const TOKEN_KEY = "telephony.panel.token";
const AGENT_KEY = "telephony.panel.agent";
const QUIET_LIMIT_MS = 45000;  // the server sends a comment line every 15 s
const RETRY_MAX_MS = 15000;

const PRESENCE = {
  offline: "Offline", available: "Available", on_duty: "On duty", ringing: "Ringing",
  on_call: "On a call", wrap_up: "Wrap-up", away: "Away", focus: "Focus",
};

const $ = id => document.getElementById(id);

const panel = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  me: localStorage.getItem(AGENT_KEY) || "",
  timezone: "",
  agents: new Map(),   // id -> Agent JSON, in the API's order
  lastEventId: null,   // the id of the last event read; null: none read yet
  stream: null,        // the AbortController of the running stream
  generation: 0,       // bumped to stop the stream: a loop of an older one ends
  retries: 0,
};

// ---- HTTP ---------------------------------------------------------------------------

class Unauthorized extends Error {}

// A refusal says why in a sentence; a bad request names the field too.
class ApiError extends Error {
  constructor(status, field, message) {
    super(status === 400 && field ? `${field}: ${message}` : message);
    this.status = status;
  }
}

function headers(extra) {
  const h = Object.assign({Accept: "application/json"}, extra || {});
  if (panel.token) h.Authorization = "Bearer " + panel.token;
  return h;
}

async function api(method, path, body) {
  const init = {method, headers: headers(), cache: "no-store"};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) throw new Unauthorized();
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) {
    const message = data && data.error ? data.error : `HTTP ${response.status}`;
    throw new ApiError(response.status, data && data.field, message);
  }
  return data;
}

function showError(message) {
  const error = $("error");
  error.textContent = message || "";
  error.hidden = !message;
}

// ---- Times, as people read them, in the site's zone -----------------------------------

let formats = null;

function zoneFormats(zone) {
  try {
    return {
      time: new Intl.DateTimeFormat("en-GB", {timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23"}),
      day: new Intl.DateTimeFormat("en-GB", {timeZone: zone, weekday: "short", day: "numeric", month: "short"}),
      date: new Intl.DateTimeFormat("en-CA", {timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit"}),
    };
  } catch (e) {
    return null;  // a zone this browser does not know: read the ISO text itself
  }
}

// A time as people read it: {time: "21:35", day: ""}; day is "tomorrow", "yesterday" or
// "on Mon 23 Nov" when it is not today.
function clock(iso) {
  if (!iso) return null;
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return null;
  if (!formats) {
    // The API writes the site's wall clock before the offset: 2026-11-23T21:35:00+01:00.
    const match = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)/.exec(iso);
    return match ? {time: match[2], day: `on ${match[1]}`} : null;
  }
  const time = formats.time.format(when);
  const days = Math.round((Date.parse(formats.date.format(when)) - Date.parse(formats.date.format(new Date()))) / 86400000);
  if (days === 0) return {time, day: ""};
  if (days === 1) return {time, day: "tomorrow"};
  if (days === -1) return {time, day: "yesterday"};
  return {time, day: `on ${formats.day.format(when)}`};
}

function at(when) {
  return when.day ? `${when.time} ${when.day}` : when.time;
}

// "08:00–10:00", or "Mon 22:00 – 06:00 tomorrow" across days.
function span(from, to) {
  return from.day === to.day ? at({time: `${from.time}–${to.time}`, day: to.day}) : `${at(from)} – ${at(to)}`;
}

// An agent's state in words: "In focus until 21:35", "On duty 08:00–10:00", "Away: lunch".
function words(agent) {
  const until = clock(agent.until);
  const since = clock(agent.since);
  switch (agent.presence) {
    case "focus": return until ? `In focus until ${at(until)}` : "In focus";
    case "away": return agent.reason ? `Away: ${agent.reason}` : "Away";
    case "on_duty":
      if (since && until) return `On duty ${span(since, until)}`;
      return until ? `On duty until ${at(until)}` : "On duty";
    case "on_call": return since ? `On a call since ${at(since)}` : "On a call";
    case "ringing": return "Ringing";
    case "wrap_up": return until ? `Wrap-up until ${at(until)}` : "Wrap-up";
    case "available": return "Available";
    case "offline": return "Offline: no phone registered";
    default: return agent.note || agent.presence || "";
  }
}

function duty(agent) {
  const parts = [];
  if (agent.on_duty && agent.on_duty.length) parts.push(`on duty in ${agent.on_duty.join(", ")}`);
  if (agent.queues && agent.queues.length) parts.push(`in ${agent.queues.join(", ")}`);
  return parts.join("; ");
}

// ---- Rendering (text only: nothing from the API is parsed as HTML) ---------------------

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "class") node.className = value;
    else if (key === "data") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// The state in words, after a dot in the state's colour.
function presence(agent) {
  return el("span", {class: `presence ${agent.presence}`}, el("span", {class: "dot", "aria-hidden": "true"}), words(agent));
}

function skillList(agent, wanted) {
  const skills = Object.entries(agent.skills || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (!skills.length) return null;
  return el("ul", {class: "skills", "aria-label": "skills"},
    ...skills.map(([skill, level]) => el("li", skill === wanted ? {class: "match"} : {}, `${skill} ${level}`)));
}

function render() {
  const me = panel.agents.get(panel.me);
  if (me) renderMe(me);
  renderSkills();
  renderPeople();
  renderTargets();
}

function renderMe(me) {
  $("me-name").textContent = me.name;
  $("me-extension").textContent = me.extension ? `ext. ${me.extension}` : "";
  $("me-presence").replaceWith(Object.assign(presence(me), {id: "me-presence"}));
  $("me-duty").textContent = duty(me);
  $("available").setAttribute("aria-pressed", String(me.presence === "available" || me.presence === "on_duty"));
  $("back").disabled = !(me.presence === "away" || me.presence === "focus");
  $("transfer-form").hidden = me.presence !== "on_call";
  if (me.presence !== "on_call") $("transfer-result").textContent = "";
}

function renderSkills() {
  const select = $("skill");
  const skills = new Set();
  for (const agent of panel.agents.values()) Object.keys(agent.skills || {}).forEach(s => skills.add(s));
  const sorted = [...skills].sort();
  const have = [...select.options].slice(1).map(o => o.value);
  if (have.join("\n") === sorted.join("\n")) return;
  const chosen = select.value;
  select.replaceChildren(el("option", {value: ""}, "any skill"), ...sorted.map(s => el("option", {value: s}, s)));
  select.value = sorted.includes(chosen) ? chosen : "";
}

function renderPeople() {
  const wanted = $("skill").value;
  const people = [...panel.agents.values()].filter(a => a.id !== panel.me && (!wanted || (a.skills && wanted in a.skills)));
  if (wanted) people.sort((a, b) => b.skills[wanted] - a.skills[wanted]);
  $("people").replaceChildren(...people.map(agent => el("li", {class: "person", data: {agent: agent.id, presence: agent.presence}},
    el("div", {class: "who"},
      el("span", {class: "name"}, agent.name),
      el("span", {class: "quiet"}, agent.extension ? `ext. ${agent.extension}` : "")),
    presence(agent),
    duty(agent) ? el("div", {class: "quiet duty"}, duty(agent)) : null,
    skillList(agent, wanted))));
  $("nobody").hidden = people.length > 0 || !wanted;
}

// Whoever and wherever my call can go: colleagues, then skill queues and hunt groups.
function renderTargets() {
  const select = $("transfer-to");
  const targets = [];
  const queues = new Set();
  const groups = new Set();
  for (const agent of panel.agents.values()) {
    if (agent.id !== panel.me) targets.push([`agent:${agent.id}`, `${agent.name} (${PRESENCE[agent.presence] || agent.presence})`]);
    (agent.queues || []).forEach(q => queues.add(q));
    (agent.groups || []).forEach(g => groups.add(g));
  }
  [...queues].sort().forEach(q => targets.push([`queue:${q}`, `skill queue ${q}`]));
  [...groups].sort().forEach(g => targets.push([`hunt_group:${g}`, `hunt group ${g}`]));
  const chosen = select.value;
  select.replaceChildren(...targets.map(([value, label]) => el("option", {value}, label)));
  if (targets.some(([value]) => value === chosen)) select.value = chosen;
}

// ---- Sign-in ----------------------------------------------------------------------------

function show(view) {
  $("sign-in").hidden = view === "panel";
  $("panel").hidden = view !== "panel";
  $("token-form").hidden = view !== "token";
  $("who-form").hidden = view !== "who";
  $("sign-out").hidden = !(panel.token || panel.me);
}

function askForToken(why) {
  stopStream();
  setLive("", false);
  panel.token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  $("token-why").textContent = why;
  show("token");
  $("token").focus();
}

function askWhoIAm() {
  const select = $("who");
  select.replaceChildren(el("option", {value: ""}, "choose your name"),
    ...[...panel.agents.values()].map(a => el("option", {value: a.id}, `${a.name} (${a.extension || a.id})`)));
  show("who");
}

function takeAgents(data) {
  panel.timezone = data.timezone || "";
  formats = panel.timezone ? zoneFormats(panel.timezone) : null;
  $("zone").textContent = panel.timezone || "the site's time zone";
  panel.agents = new Map(data.agents.map(a => [a.id, a]));
}

async function loadAgents() {
  takeAgents(await api("GET", "/api/agents"));
}

async function start() {
  showError("");
  let data;
  try {
    data = await api("GET", "/api/agents");
  } catch (e) {
    if (e instanceof Unauthorized) {
      askForToken(panel.token ? "That token was not accepted. Your API token, please." : "This engine asks for your API token.");
    } else {
      // Starting (503 until its first read of the PBX), restarting, or out of reach.
      showError(`The engine is not answering (${e.message}); trying again.`);
      setTimeout(start, 3000);
    }
    return;
  }
  takeAgents(data);
  if (!panel.agents.has(panel.me)) {
    askWhoIAm();
    return;
  }
  show("panel");
  render();
  stopStream();
  setLive("connecting…", false);
  followEvents(panel.generation);
}

function signOut() {
  stopStream();
  panel.token = "";
  panel.me = "";
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(AGENT_KEY);
  panel.agents = new Map();
  panel.lastEventId = null;
  $("people").replaceChildren();
  setLive("", false);
  start();
}

// ---- My state and my call -----------------------------------------------------------------

async function change(body) {
  showError("");
  try {
    const agent = await api("PUT", `/api/agents/${encodeURIComponent(panel.me)}/state`, body);
    if (agent && agent.id) {
      panel.agents.set(agent.id, agent);
      render();
    }
    return true;
  } catch (e) {
    if (e instanceof Unauthorized) askForToken("That token is no longer accepted. Your API token, please.");
    else showError(e.message);
    return false;
  }
}

async function transfer() {
  showError("");
  const result = $("transfer-result");
  const body = {to: $("transfer-to").value, mode: $("transfer-mode").value, urgent: $("transfer-urgent").checked};
  result.textContent = "transferring…";
  try {
    const done = await api("POST", `/api/agents/${encodeURIComponent(panel.me)}/transfer`, body);
    result.textContent = `Transferred to ${done.to} (${done.number}).`;
  } catch (e) {
    if (e instanceof Unauthorized) askForToken("That token is no longer accepted. Your API token, please.");
    else result.textContent = `Not transferred: ${e.message}`;
  }
}

// ---- Live updates ---------------------------------------------------------------------------

function setLive(text, on) {
  $("live").textContent = text;
  $("live").classList.toggle("on", on);
}

// Stops the stream, and any loop waiting to open one again.
function stopStream() {
  panel.generation += 1;
  if (panel.stream) panel.stream.abort();
  panel.stream = null;
}

function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms));
}

async function followEvents(generation) {
  while (generation === panel.generation) {
    const controller = new AbortController();
    panel.stream = controller;
    let quiet = null;
    const heard = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => controller.abort(), QUIET_LIMIT_MS);
    };
    try {
      heard();
      const extra = {Accept: "text/event-stream"};
      if (panel.lastEventId !== null) extra["Last-Event-ID"] = panel.lastEventId;
      const response = await fetch("/api/events", {headers: headers(extra), signal: controller.signal, cache: "no-store"});
      if (response.status === 401) {
        askForToken("That token is no longer accepted. Your API token, please.");
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      if (panel.lastEventId === null) {
        // Nothing to resume from: read everyone now that the stream is open, then
        // apply what the stream brought meanwhile, in order (each event is a whole agent).
        await loadAgents();
        render();
      }
      setLive("live", true);
      panel.retries = 0;
      await readStream(response.body.getReader(), heard);
    } catch (e) {
      if (e instanceof Unauthorized) {
        askForToken("That token is no longer accepted. Your API token, please.");
        return;
      }
    } finally {
      clearTimeout(quiet);
    }
    if (generation !== panel.generation || panel.stream !== controller) return;
    setLive("reconnecting…", false);
    const wait = Math.min(RETRY_MAX_MS, 500 * 2 ** panel.retries) * (0.75 + Math.random() / 2);
    panel.retries = Math.min(panel.retries + 1, 6);
    await sleep(wait);
  }
}

// Server-sent events, parsed as the HTML standard says: lines, "field: value", a blank
// line ends an event, a line starting with ":" is a comment (the keep-alive).
async function readStream(reader, heard) {
  const decoder = new TextDecoder();
  let buffer = "";
  let event = {type: "", data: [], id: null};
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    heard();
    buffer += decoder.decode(value, {stream: true});
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (event.id !== null) panel.lastEventId = event.id;
        if (event.data.length) dispatch(event.type || "message", event.data.join("\n"));
        event = {type: "", data: [], id: null};
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") event.data.push(value);
      else if (field === "event") event.type = value;
      else if (field === "id" && !value.includes("\0")) event.id = value;
    }
  }
}

function dispatch(type, data) {
  if (type === "reset") {
    // Our resume point was older than the server keeps: every agent follows.
    return;
  }
  if (type !== "agent") return;
  let agent;
  try { agent = JSON.parse(data); } catch (e) { return; }
  if (!agent || !agent.id) return;
  panel.agents.set(agent.id, agent);
  render();
}

// ---- Wiring -------------------------------------------------------------------------------

function onSubmit(id, handler) {
  $(id).addEventListener("submit", event => {
    event.preventDefault();
    handler();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  onSubmit("token-form", () => {
    const input = $("token");
    panel.token = input.value.trim();
    input.value = "";
    sessionStorage.setItem(TOKEN_KEY, panel.token);
    start();
  });
  onSubmit("who-form", () => {
    const who = $("who").value;
    if (!who) return;
    panel.me = who;
    localStorage.setItem(AGENT_KEY, who);
    start();
  });
  onSubmit("away-form", async () => {
    const reason = $("away-reason").value.trim();
    if (await change(reason ? {state: "away", reason} : {state: "away"})) $("away-reason").value = "";
  });
  onSubmit("focus-form", async () => {
    const until = $("focus-until").value;
    if (await change(until ? {state: "focus", until} : {state: "focus"})) $("focus-until").value = "";
  });
  onSubmit("transfer-form", transfer);
  $("available").addEventListener("click", () => change({state: "available"}));
  $("back").addEventListener("click", () => change({state: "back"}));
  $("skill").addEventListener("change", renderPeople);
  $("sign-out").addEventListener("click", signOut);
  start();
});
