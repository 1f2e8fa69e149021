// The Run timeline webview: lanes of steps over time and a virtualised list of every event.
// Runs in the webview (no Node, no VS Code API beyond acquireVsCodeApi); the host sends events.

import type { RunEvent } from "../protocol";
import {
  addEvent,
  emptyTimeline,
  eventSummary,
  spanGeometry,
  visibleWindow,
  type TimelineModel,
} from "../core/timeline";

declare function acquireVsCodeApi(): { postMessage(msg: unknown): void };

const vscode = acquireVsCodeApi();
const ROW = 22;
const LANE = 24;
const LANE_WIDTH = 600;

let model: TimelineModel = emptyTimeline("");
let events: RunEvent[] = [];
let selected: string | undefined;
let lanesDirty = true;
let listDirty = true;
let scheduled = false;

const $ = (id: string) => document.getElementById(id) as HTMLElement;

function el(tag: string, cls?: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    render();
  });
}

function render(): void {
  $("status").textContent = model.status.replace(/_/g, " ");
  $("status").className = `status s-${model.status}`;
  $("count").textContent = `${events.length} events`;
  if (lanesDirty) renderLanes();
  if (listDirty) renderList();
  lanesDirty = listDirty = false;
}

function renderLanes(): void {
  const box = $("lanes");
  const inner = $("lanes-inner");
  const total = Math.max(model.end, 1);
  const win = visibleWindow(box.scrollTop, box.clientHeight || 300, LANE, model.lanes.length, 5);
  inner.style.height = `${win.total}px`;
  const frag = document.createDocumentFragment();
  for (let i = win.first; i < win.last; i++) {
    const lane = model.lanes[i];
    const row = el("div", `lane${lane.step === selected ? " selected" : ""}`);
    row.style.top = `${i * LANE}px`;
    row.setAttribute("role", "row");
    const label = el("button", "lane-label", lane.step);
    label.setAttribute("data-step", lane.step);
    label.setAttribute("aria-label", `step ${lane.step}: ${lane.status}`);
    label.title = `${lane.step}: ${lane.status}${lane.retries ? `, ${lane.retries} retries` : ""}`;
    const track = el("div", "track");
    for (const a of lane.attempts) {
      const g = spanGeometry(a, total, LANE_WIDTH, model.end);
      const bar = el("div", `bar s-${lane.status}`);
      bar.style.left = `${g.x}px`;
      bar.style.width = `${g.w}px`;
      track.appendChild(bar);
    }
    for (const w of lane.waits) {
      const g = spanGeometry(w, total, LANE_WIDTH, model.end);
      const bar = el("div", "bar wait");
      bar.title = "waiting for approval";
      bar.style.left = `${g.x}px`;
      bar.style.width = `${g.w}px`;
      track.appendChild(bar);
    }
    const retries = lane.retries ? ` · ${lane.retries} retr${lane.retries === 1 ? "y" : "ies"}` : "";
    const meta = el(
      "span",
      "lane-meta",
      `${lane.status.replace(/_/g, " ")}${retries}${lane.waits.length ? " · approval" : ""}`,
    );
    row.append(label, track, meta);
    frag.appendChild(row);
  }
  inner.replaceChildren(frag);
}

function renderList(): void {
  const box = $("events");
  const inner = $("events-inner");
  const win = visibleWindow(box.scrollTop, box.clientHeight || 400, ROW, events.length);
  inner.style.height = `${win.total}px`;
  const frag = document.createDocumentFragment();
  for (let i = win.first; i < win.last; i++) {
    const e = events[i];
    const row = el("div", "ev");
    row.style.top = `${i * ROW}px`;
    row.append(
      el("span", "ev-seq", String(e.seq)),
      el("span", "ev-step", e.step_id ?? ""),
      el("span", "ev-type", e.type),
      el("span", "ev-text", eventSummary(e)),
    );
    frag.appendChild(row);
  }
  inner.replaceChildren(frag);
}

function wireHeader(): void {
  $("compare").addEventListener("click", () => vscode.postMessage({ type: "compare" }));
  $("replay").addEventListener("click", () => vscode.postMessage({ type: "replay" }));
}

function select(step: string): void {
  selected = step;
  lanesDirty = true;
  schedule();
  vscode.postMessage({ type: "selectStep", step });
}

function showDetail(d: { step: string; logs: string[]; outputs: unknown; provenance: unknown }): void {
  const box = $("detail");
  box.replaceChildren();
  const head = el("h2", undefined, `Step ${d.step}`);
  const prov = el("button", "link", "Open provenance");
  prov.addEventListener("click", () => vscode.postMessage({ type: "openProvenance", step: d.step }));
  box.append(head, prov, el("h3", undefined, "Logs"));
  box.append(el("pre", "logs", d.logs.length ? d.logs.join("\n") : "(no log lines)"));
  box.append(el("h3", undefined, "Outputs"), el("pre", undefined, JSON.stringify(d.outputs ?? {}, null, 2)));
  box.append(
    el("h3", undefined, "Provenance"),
    el("pre", undefined, JSON.stringify(d.provenance ?? {}, null, 2)),
  );
}

function addEvents(batch: RunEvent[]): void {
  for (const e of batch) {
    if (events.length && e.seq <= events[events.length - 1].seq) continue; // already shown
    addEvent(model, e, events.length);
    events.push(e);
  }
  lanesDirty = listDirty = true;
  schedule();
}

async function benchScroll(frames: number): Promise<void> {
  const box = $("events");
  const times: number[] = [];
  for (let i = 0; i < frames; i++) {
    const t0 = performance.now();
    box.scrollTop = ((i * 997) % Math.max(1, events.length)) * ROW;
    renderList();
    void box.offsetHeight; // layout inside the measured frame
    times.push(performance.now() - t0);
    await new Promise((r) => requestAnimationFrame(r));
  }
  vscode.postMessage({ type: "scrollStats", frames: times });
}

window.addEventListener("message", (msg: MessageEvent) => {
  const m = msg.data as { type: string; [k: string]: unknown };
  if (m.type === "init") {
    const t0 = performance.now();
    model = emptyTimeline(String(m.runId));
    events = [];
    $("run").textContent = `Run ${String(m.runId)} · ${String(m.pipeline ?? "")}`;
    addEvents(m.events as RunEvent[]);
    requestAnimationFrame(() => {
      render();
      vscode.postMessage({ type: "painted", ms: performance.now() - t0 });
    });
  } else if (m.type === "events") {
    addEvents(m.events as RunEvent[]);
  } else if (m.type === "stepDetail") {
    showDetail(m as never);
  } else if (m.type === "benchScroll") {
    void benchScroll(Number(m.frames) || 60);
  }
});

document.addEventListener("DOMContentLoaded", () => undefined);
$("lanes").addEventListener("scroll", () => {
  lanesDirty = true;
  schedule();
});
$("events").addEventListener("scroll", () => {
  listDirty = true;
  schedule();
});
$("lanes").addEventListener("click", (e) => {
  const step = (e.target as HTMLElement).closest("[data-step]")?.getAttribute("data-step");
  if (step) select(step);
});
$("lanes").addEventListener("keydown", (e) => {
  const buttons = [...document.querySelectorAll<HTMLElement>(".lane-label")];
  const i = buttons.indexOf(document.activeElement as HTMLElement);
  if (e.key === "ArrowDown" && i < buttons.length - 1) buttons[i + 1].focus();
  else if (e.key === "ArrowUp" && i > 0) buttons[i - 1].focus();
  else return;
  e.preventDefault();
});
wireHeader();
vscode.postMessage({ type: "ready" });
