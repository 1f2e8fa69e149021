// The Run timeline's model: steps on lanes over time from the run's events (shared by the panel and
// its webview), and the window of rows to render for a long event list (virtualised rendering).

import type { RunEvent } from "../protocol";

export interface Span {
  start: number; // ms since the run's first event
  end: number | null; // null while it lasts
}

export interface Lane {
  step: string;
  status: string;
  attempts: Span[];
  waits: Span[]; // approval waits
  retries: number;
  first: number; // index of the step's first event, for a stable lane order
}

export interface TimelineModel {
  runId: string;
  origin: number | null;
  status: string;
  lanes: Lane[];
  byStep: Map<string, Lane>;
  end: number; // ms of the latest event
}

const STEP_FINAL: Record<string, string> = {
  "step.finished": "succeeded",
  "step.skipped": "skipped",
  "step.failed": "failed",
  "step.cancelled": "cancelled",
};

export function emptyTimeline(runId: string): TimelineModel {
  return { runId, origin: null, status: "queued", lanes: [], byStep: new Map(), end: 0 };
}

/** Folds one event into the model (events arrive in `seq` order); returns the same model. */
export function addEvent(model: TimelineModel, event: RunEvent, index = 0): TimelineModel {
  const ts = Date.parse(event.ts);
  if (model.origin === null && !Number.isNaN(ts)) model.origin = ts;
  const t = Number.isNaN(ts) || model.origin === null ? model.end : ts - model.origin;
  model.end = Math.max(model.end, t);
  if (event.type === "run.started" || event.type === "run.resumed") model.status = "running";
  if (event.type === "run.finished") model.status = String(event.data["status"] ?? "succeeded");
  if (!event.step_id) {
    if (event.type === "approval.requested") model.status = "awaiting_approval";
    return model;
  }
  const lane = laneOf(model, event.step_id, index);
  const open = (spans: Span[]) => spans.find((s) => s.end === null);
  switch (event.type) {
    case "step.started":
      closeAll(lane.attempts, t);
      lane.attempts.push({ start: t, end: null });
      lane.status = "running";
      break;
    case "step.retrying":
      closeAll(lane.attempts, t);
      lane.retries += 1;
      lane.status = "retrying";
      break;
    case "approval.requested":
      lane.waits.push({ start: t, end: null });
      lane.status = "awaiting_approval";
      model.status = "awaiting_approval";
      break;
    case "approval.resolved": {
      const w = open(lane.waits);
      if (w) w.end = t;
      lane.status = "running";
      model.status = "running";
      break;
    }
    default:
      if (event.type in STEP_FINAL) {
        closeAll(lane.attempts, t);
        closeAll(lane.waits, t);
        const given = event.data["status"];
        lane.status = typeof given === "string" ? given : STEP_FINAL[event.type];
      }
  }
  return model;
}

function closeAll(spans: Span[], t: number): void {
  for (const s of spans) if (s.end === null) s.end = t;
}

function laneOf(model: TimelineModel, step: string, index: number): Lane {
  let lane = model.byStep.get(step);
  if (!lane) {
    lane = { step, status: "pending", attempts: [], waits: [], retries: 0, first: index };
    model.lanes.push(lane);
    model.byStep.set(step, lane);
  }
  return lane;
}

export function buildTimeline(runId: string, events: RunEvent[]): TimelineModel {
  const model = emptyTimeline(runId);
  events.forEach((e, i) => addEvent(model, e, i));
  return model;
}

/** Pixel geometry of a span on a lane `width` px wide covering `total` ms (open spans reach `now`). */
export function spanGeometry(
  span: Span,
  total: number,
  width: number,
  now: number,
): { x: number; w: number } {
  const scale = total > 0 ? width / total : 0;
  const end = span.end ?? now;
  const x = Math.round(span.start * scale);
  return { x, w: Math.max(2, Math.round((end - span.start) * scale)) };
}

/** The rows to render for a list of `count` rows of `rowHeight` px scrolled to `scrollTop`. */
export function visibleWindow(
  scrollTop: number,
  viewport: number,
  rowHeight: number,
  count: number,
  overscan = 10,
): { first: number; last: number; offset: number; total: number } {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);
  return { first, last, offset: first * rowHeight, total: count * rowHeight };
}

/** A one-line summary of an event for the event list. */
export function eventSummary(e: RunEvent): string {
  const d = e.data;
  switch (e.type) {
    case "tool.call":
      return `${String(d["tool"] ?? "tool")} ${typeof d["args"] === "object" ? JSON.stringify(d["args"]).slice(0, 120) : ""}`;
    case "approval.requested":
      return `waits for approval: ${String(d["summary"] ?? d["action"] ?? "")}`;
    case "approval.resolved":
      return `approval ${String(d["status"] ?? d["decision"] ?? "resolved")}`;
    case "log":
      return String(d["line"] ?? d["message"] ?? d["text"] ?? "");
    case "step.finished":
      return `finished ${String(d["status"] ?? "")}`.trim();
    case "step.retrying":
      return `retrying (attempt ${String(d["attempt"] ?? "?")}): ${String(d["error"] ?? "")}`;
    default:
      return "";
  }
}

/**
 * Live events for one open timeline: held until the panel has its first batch, then sent in batches,
 * each event once and in order (the daemon may repeat events it streams after a restart).
 */
export class LiveFeed {
  private lastSeq = -1;
  private ready = false;
  private queue: RunEvent[] = [];

  /** Queues an event; true when there is something new to send. */
  push(event: RunEvent): boolean {
    if (event.seq <= this.lastSeq) return false;
    this.queue.push(event);
    return this.ready;
  }

  /** The panel got `events` in full: later batches start after the last of them. */
  init(events: RunEvent[]): void {
    this.ready = true;
    for (const e of events) this.lastSeq = Math.max(this.lastSeq, e.seq);
  }

  /** The next batch to send (in seq order, no repeats); empty until `init`. */
  take(): RunEvent[] {
    if (!this.ready) return [];
    const batch = this.queue
      .filter((e) => e.seq > this.lastSeq)
      .sort((a, b) => a.seq - b.seq)
      .filter((e, i, all) => i === 0 || e.seq !== all[i - 1].seq);
    this.queue = [];
    if (batch.length) this.lastSeq = batch[batch.length - 1].seq;
    return batch;
  }
}
