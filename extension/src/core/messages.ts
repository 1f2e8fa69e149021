// Messages between the panels and their webviews, checked at the boundary: a webview is untrusted input.

export type FromWebview =
  | { type: "ready" }
  | { type: "selectStep"; step: string }
  | { type: "openProvenance"; step?: string }
  | { type: "openFile"; path: string }
  | { type: "painted"; ms: number }
  | { type: "scrollStats"; frames: number[] }
  | { type: "compare" }
  | { type: "replay" };

const SAFE_NAME = /^[A-Za-z0-9_.:@/-]{1,200}$/;

/** The message if it is one we understand with well-formed fields, else undefined (ignored). */
export function parseWebviewMessage(raw: unknown): FromWebview | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const m = raw as Record<string, unknown>;
  switch (m.type) {
    case "ready":
      return { type: "ready" };
    case "compare":
      return { type: "compare" };
    case "replay":
      return { type: "replay" };
    case "selectStep":
      return typeof m.step === "string" && SAFE_NAME.test(m.step)
        ? { type: "selectStep", step: m.step }
        : undefined;
    case "openProvenance":
      if (m.step === undefined) return { type: "openProvenance" };
      return typeof m.step === "string" && SAFE_NAME.test(m.step)
        ? { type: "openProvenance", step: m.step }
        : undefined;
    case "openFile":
      return typeof m.path === "string" &&
        SAFE_NAME.test(m.path) &&
        !m.path.split("/").includes("..") &&
        !m.path.startsWith("/")
        ? { type: "openFile", path: m.path }
        : undefined;
    case "painted":
      return typeof m.ms === "number" && Number.isFinite(m.ms) ? { type: "painted", ms: m.ms } : undefined;
    case "scrollStats":
      return Array.isArray(m.frames) && m.frames.every((f) => typeof f === "number")
        ? { type: "scrollStats", frames: (m.frames as number[]).slice(0, 10_000) }
        : undefined;
    default:
      return undefined;
  }
}

/** Escapes text for HTML built by the panels. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A random nonce for the content security policy of a webview. */
export function nonce(random: () => number = Math.random): string {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let out = "";
  for (let i = 0; i < 32; i++) out += chars[Math.floor(random() * chars.length)];
  return out;
}

/** The strict CSP of our webviews: nothing remote, scripts only with the nonce, styles from the extension. */
export function contentSecurityPolicy(cspSource: string, nonceValue: string): string {
  return [
    "default-src 'none'",
    `style-src ${cspSource}`,
    `script-src 'nonce-${nonceValue}'`,
    `img-src ${cspSource}`,
    `font-src ${cspSource}`,
  ].join("; ");
}
