// jobwatch status page. Plain JavaScript, no build step, nothing from outside the function.
// Every text from the API goes into the page through textContent, never as HTML.
"use strict";

const TOKEN_KEY = "jobwatch.token";
const REFRESH_MS = 10000;
const PAGE = 50;
const api = document.body.dataset.api || "";
const $ = (id) => document.getElementById(id);
const state = { cursors: [""], page: 0, filters: {}, paused: false, timer: null, view: "jobs" };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "onclick") node.addEventListener("click", value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function showMessage(text) {
  const box = $("message");
  box.textContent = text || "";
  box.hidden = !text;
}

class AuthError extends Error {}
class NotFound extends Error {}

async function call(path, options = {}) {
  const headers = { Authorization: "Bearer " + token(), ...(options.headers || {}) };
  let response;
  try {
    response = await fetch(api + path, { ...options, headers, cache: "no-store", credentials: "omit" });
  } catch (err) {
    throw new Error("jobwatch could not be reached: " + err.message);
  }
  if (response.status === 401) throw new AuthError("That token was refused. Check JOBWATCH_API_TOKEN and sign in again.");
  if (response.status === 404) throw new NotFound((await errorText(response)) || "Not found.");
  if (!response.ok) throw new Error((await errorText(response)) || "jobwatch answered " + response.status);
  if (options.raw) return response;
  return response.status === 204 ? null : response.json();
}

async function errorText(response) {
  try { const body = await response.json(); return body.error && body.error.message; } catch { return ""; }
}

function when(iso) {
  if (!iso) return el("span", { text: "—" });
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return el("span", { text: iso });
  return el("time", { datetime: iso, title: date.toISOString().replace(".000Z", "Z") + " (UTC)", text: date.toLocaleString() });
}

function duration(start, end) {
  if (!start || !end) return "—";
  let seconds = Math.max(0, Math.round((new Date(end) - new Date(start)) / 1000));
  const h = Math.floor(seconds / 3600); seconds -= h * 3600;
  const m = Math.floor(seconds / 60); seconds -= m * 60;
  return (h ? h + " h " : "") + (h || m ? m + " min " : "") + seconds + " s";
}

function badge(value, kind = "state") {
  return el("span", { class: "badge", ["data-" + kind]: value, text: value });
}

function progress(objects) {
  if (!objects) return el("span", { class: "bar-label", text: "—" });
  const done = (objects.succeeded || 0), failed = (objects.failed || 0) + (objects.cancelled || 0);
  const active = objects.active || 0;
  const max = objects.total !== null && objects.total !== undefined ? objects.total : objects.seen || 0;
  const label = `${done + failed} of ${max}${objects.total === null || objects.total === undefined ? " seen" : ""}` +
    `: ${done} done, ${failed} failed, ${active} active`;
  const bar = el("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuenow": done + failed,
    "aria-valuemax": max, "aria-label": label, title: label });
  for (const [name, n] of [["done", done], ["failed", failed], ["active", active]]) {
    if (max && n) bar.append(el("span", { class: name, style: null, "data-width": n }));
  }
  for (const span of bar.children) span.style.width = (100 * Number(span.dataset.width) / max) + "%";
  return el("div", {}, bar, el("span", { class: "bar-label", text: label }));
}

function deliveryOf(line) {
  const statuses = Object.values(line.deliveries || {});
  if (!statuses.length) return "none";
  if (statuses.includes("failed")) return "failed";
  if (statuses.includes("pending")) return "pending";
  return "delivered";
}

function failingTitle(failing) {
  const codes = (failing.failureCodes || []).map((c) => c.code + " × " + c.count).join(", ");
  return "Most of its ended objects failed" + (codes ? ": " + codes : "");
}

function chips(container, counts, order) {
  container.replaceChildren();
  for (const name of order) {
    container.append(el("span", { class: "chip" }, name, el("strong", { text: (counts && counts[name]) || 0 })));
  }
}

// The watched buckets: a chip each (active jobs), a failing one marked with its error; the filter's choices.
function showTargets(found) {
  const entries = Object.entries((found && found.targets) || {}).sort(([a], [b]) => a.localeCompare(b));
  const box = $("target-counts");
  box.replaceChildren();
  box.hidden = entries.length < 2 && entries.every(([, t]) => t.ok !== false);
  for (const [key, target] of entries) {
    const bad = target.ok === false;
    box.append(el("span", { class: bad ? "chip bad" : "chip", "data-target": key, "data-ok": String(target.ok),
      title: bad ? key + ": " + (target.error || "failing") : key + ": " + target.jobs + " active" },
      key, el("strong", { text: bad ? "failing" : String(target.jobs || 0) })));
  }
  const select = $("target-filter");
  const chosen = state.filters.bucket ? state.filters.bucket + "@" + (state.filters.region || "") : "";
  select.replaceChildren(el("option", { value: "", text: "any" }),
    ...entries.map(([key]) => el("option", { value: key, text: key, selected: key === chosen })));
  select.closest("label").hidden = entries.length < 2;
}

// --- views -------------------------------------------------------------------------------------

async function showJobs() {
  const query = new URLSearchParams({ limit: PAGE, ...state.filters });
  const cursor = state.cursors[state.page];
  if (cursor) query.set("cursor", cursor);
  const [jobs, events, targets] = await Promise.all([call("jobs?" + query), call("events?status=failed&limit=1"),
    call("targets")]);
  chips($("job-counts"), { ...jobs.counts, failing: jobs.failing || 0 },
    ["Submitted", "Running", "Pause", "Success", "Failed", "Cancel", "failing"]);
  chips($("event-counts"), events.counts, ["pending", "delivered", "failed"]);
  showTargets(targets);
  const body = $("jobs-table").tBodies[0];
  body.replaceChildren();
  for (const job of jobs.jobs) {
    const link = el("a", { href: "#/job/" + encodeURIComponent(job.jobId), class: "mono", text: job.jobId });
    body.append(el("tr", { "data-job-id": job.jobId, "data-state": job.state, "data-bucket": job.bucket || "" },
      el("td", {}, link, el("div", { class: "bar-label", text: `${job.name || ""} · ${job.type || ""}` })),
      el("td", { class: "mono", title: job.region || "", text: job.bucket || "—" }),
      el("td", {}, badge(job.state), job.failing ? el("span", { class: "badge", "data-failing": "true",
        title: failingTitle(job.failing), text: job.failing.action === "cancelled" ? "failing · cancelled" : "failing" }) : null),
      el("td", {}, progress(job.objects)),
      el("td", {}, when(job.creationTime)),
      el("td", {}, when(job.endTime)),
      el("td", { text: duration(job.startTime, job.endTime) }),
      el("td", {}, badge(deliveryOf(job), "status"))));
  }
  $("jobs-empty").hidden = jobs.jobs.length > 0;
  state.cursors[state.page + 1] = jobs.nextCursor || null;
  $("older").disabled = !jobs.nextCursor;
  $("newer").disabled = state.page === 0;
}

// Retry a finished batch's failed objects: a dry run first, so the confirmation shows how many.
async function retryFailed(jobId) {
  const path = "jobs/" + encodeURIComponent(jobId) + "/retry";
  const post = (body) => call(path, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body) });
  try {
    const dry = await post({ dryRun: true });
    if (!window.confirm(`Retry ${dry.objects} failed objects as a new batch job?`)) return;
    const made = await post({});
    showMessage(`Batch ${made.jobId} retries ${made.objects} objects.`);
    await showJob(jobId);
  } catch (err) {
    showMessage(err.message);
  }
}

async function showJob(jobId) {
  const [story, failed] = await Promise.all([
    call("jobs/" + encodeURIComponent(jobId) + "/record"),
    call("jobs/" + encodeURIComponent(jobId) + "/objects?state=failed&limit=100"),
  ]);
  const record = story.record;
  $("job-title").textContent = (record.name || "Job") + " (" + record.jobId + ")";
  const facts = $("job-facts");
  facts.replaceChildren();
  const rows = [["ID", el("span", { class: "mono", text: record.jobId })], ["Type", record.type], ["State", badge(record.state)],
    ["Created", when(record.creationTime)], ["Started", when(record.startTime)], ["Ended", when(record.endTime)],
    ["Duration", duration(record.startTime, record.endTime)], ["CI code", record.code || "—"], ["CI message", record.message || "—"]];
  for (const [name, value] of rows) facts.append(el("dt", { text: name }), el("dd", {}, value));
  $("job-objects").replaceChildren(progress(record.objects));
  const history = $("job-history");
  history.replaceChildren(...(record.history || []).map((h) => el("li", {}, badge(h.state), " ", when(h.at))));
  const failedBody = $("failed-table").tBodies[0];
  failedBody.replaceChildren(...failed.objects.map((o) => el("tr", { "data-object": o.object },
    el("td", { class: "mono", text: o.object }), el("td", { text: o.code }), el("td", { text: o.message }),
    el("td", {}, when(o.endTime)))));
  $("failed-empty").hidden = failed.objects.length > 0;
  const report = $("job-report");
  report.replaceChildren();
  if (!story.report) report.append(el("p", { class: "empty", text: "Written when the batch is finished." }));
  else {
    for (const part of story.report.parts) {
      const name = part.key.split("/").pop();
      report.append(el("p", {}, el("button", { type: "button", "data-action": "download", "data-part": name,
        onclick: () => download(record.jobId, name) , text: `Download ${name} (${part.rows} rows)` }),
        " ", el("span", { class: "mono", text: "md5 " + part.md5 })));
    }
    if (!story.report.parts.length) report.append(el("p", { class: "empty", text: "The report lists no objects." }));
    if ((story.report.objects || record.objects || {}).failed) {
      report.append(el("p", {}, el("button", { type: "button", "data-action": "retry",
        onclick: () => retryFailed(record.jobId), text: "Retry failed objects" })));
    }
  }
  for (const done of record.retries || []) {
    for (const id of done.jobIds || []) {
      report.append(el("p", { "data-retry": id }, `Retry ${done.n} (${done.objects} objects): `,
        el("a", { href: "#/job/" + encodeURIComponent(id), class: "mono", text: id })));
    }
  }
  if (record.retryOf) {
    report.append(el("p", {}, "Retries the failed objects of ",
      el("a", { href: "#/job/" + encodeURIComponent(record.retryOf), class: "mono", text: record.retryOf })));
  }
  const events = $("job-events");
  events.replaceChildren(...story.events.map(eventCard));
  if (!story.events.length) events.append(el("p", { class: "empty", text: "No events yet." }));
}

function eventCard(event) {
  const card = el("article", { class: "event", "data-event-id": event.id, "data-status": event.status },
    el("h4", {}, badge(event.status, "status"), " ", el("span", { text: event.type }), " ",
      el("span", { class: "mono", text: event.id })),
    el("div", { class: "bar-label" }, "created ", when(event.createdAt), event.nextAttemptAt ? " · next attempt " : "",
      event.nextAttemptAt ? when(event.nextAttemptAt) : null));
  const targets = event.targets || {};
  const table = el("table", {}, el("thead", {}, el("tr", {}, ...["Target", "Time", "HTTP", "Error"].map((h) => el("th", { scope: "col", text: h })))));
  const body = el("tbody");
  for (const attempt of event.attempts || []) {
    const target = targets[attempt.target];
    body.append(el("tr", {}, el("td", { text: target ? target.target : attempt.target }), el("td", {}, when(attempt.at)),
      el("td", { text: attempt.status === null || attempt.status === undefined ? "—" : attempt.status }),
      el("td", { text: attempt.error || "" })));
  }
  if (body.children.length) { table.append(body); card.append(el("div", { class: "table-wrap" }, table)); }
  else card.append(el("p", { class: "empty", text: Object.keys(targets).length ? "No attempt yet." : "No delivery target." }));
  return card;
}

async function showDead() {
  const dead = await call("events?status=failed&limit=100");
  const list = $("dead-list");
  list.replaceChildren();
  for (const event of dead.events) {
    const card = eventCard(event);
    const button = el("button", { type: "button", "data-action": "replay", text: "Replay" });
    button.addEventListener("click", () => replay(event.id, card, button));
    card.append(el("p", {}, el("a", { href: "#/job/" + encodeURIComponent(event.jobId), text: "Job " + event.jobId }), " ", button));
    list.append(card);
  }
  $("dead-empty").hidden = dead.events.length > 0;
}

async function replay(eventId, card, button) {
  button.disabled = true;
  try {
    const result = await call("events/" + encodeURIComponent(eventId) + "/replay", { method: "POST" });
    card.dataset.status = result.status;
    const shown = card.querySelector(".badge[data-status]");
    shown.dataset.status = result.status;
    shown.textContent = result.status;
    button.textContent = "Queued: the next sweep delivers it";
  } catch (err) { fail(err); button.disabled = false; }
}

async function download(jobId, part) {
  try {
    const response = await call("jobs/" + encodeURIComponent(jobId) + "/report/" + encodeURIComponent(part), { raw: true });
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: `${jobId}-${part}` });
    document.body.append(link); link.click(); link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } catch (err) { fail(err); }
}

// --- wiring ------------------------------------------------------------------------------------

function fail(err) {
  if (err instanceof AuthError) { sessionStorage.removeItem(TOKEN_KEY); signIn(err.message); return; }
  showMessage(err.message || String(err));
}

function signIn(message) {
  stopTimer();
  $("main").hidden = true; $("refresh").hidden = true; $("login").hidden = false;
  showMessage(message || "");
  $("token").focus();
}

async function render() {
  if (!token()) { signIn(""); return; }
  $("login").hidden = true; $("main").hidden = false; $("refresh").hidden = false;
  const route = location.hash.replace(/^#\/?/, "");
  const [view, id] = route.split("/");
  state.view = view === "job" && id ? "job" : view === "dead" ? "dead" : "jobs";
  $("view-jobs").hidden = state.view !== "jobs";
  $("overview").hidden = state.view !== "jobs";
  $("view-job").hidden = state.view !== "job";
  $("view-dead").hidden = state.view !== "dead";
  for (const link of document.querySelectorAll("[data-view-link]")) {
    if (link.dataset.viewLink === state.view) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  try {
    if (state.view === "job") await showJob(decodeURIComponent(id));
    else if (state.view === "dead") await showDead();
    else await showJobs();
    showMessage("");
    const now = new Date();
    $("updated").replaceChildren("Updated ", el("time", { datetime: now.toISOString(), title: now.toISOString() + " (UTC)", text: now.toLocaleTimeString() }));
  } catch (err) {
    if (err instanceof NotFound && state.view === "job") showMessage("No such job: jobwatch has not seen " + decodeURIComponent(id) + ".");
    else fail(err);
  }
}

function stopTimer() { if (state.timer) clearInterval(state.timer); state.timer = null; }
function startTimer() { stopTimer(); if (!state.paused) state.timer = setInterval(render, REFRESH_MS); }

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("token").value = "";
    render().then(startTimer);
  });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); signIn("Signed out."); });
  $("pause").addEventListener("click", () => {
    state.paused = !state.paused;
    $("pause").setAttribute("aria-pressed", String(state.paused));
    $("pause").textContent = state.paused ? "Resume auto-refresh" : "Pause auto-refresh";
    startTimer();
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    const { target, ...rest } = Object.fromEntries([...data.entries()].filter(([, v]) => v));
    state.filters = rest;
    if (target) [state.filters.bucket, state.filters.region] = target.split("@");
    state.cursors = [""]; state.page = 0;
    render();
  });
  $("older").addEventListener("click", () => { if (state.cursors[state.page + 1]) { state.page += 1; render(); } });
  $("newer").addEventListener("click", () => { if (state.page > 0) { state.page -= 1; render(); } });
  window.addEventListener("hashchange", render);
  render().then(() => { if (token()) startTimer(); });
});
