// A hover on a file written by a run: which run and step wrote it, with a link to the provenance.

import * as vscode from "vscode";
import type { Daemon } from "./daemon";
import { Method } from "./protocol";

export function provenanceHover(daemon: Daemon): vscode.HoverProvider {
  return {
    async provideHover(document, position) {
      if (document.uri.scheme !== "file" || position.line !== 0 || daemon.state !== "ready") return undefined;
      const rel = vscode.workspace.asRelativePath(document.uri, false);
      const found = await daemon
        .request<{
          runId: string;
          stepId: string;
          sha256: string;
          at: string;
        } | null>(Method.provenance, { path: rel })
        .catch(() => null);
      if (!found) return undefined;
      const args = encodeURIComponent(JSON.stringify([document.uri]));
      const md = new vscode.MarkdownString(
        `**BuilderOS**: written by run \`${found.runId}\`, step \`${found.stepId}\` (${found.at})\n\n` +
          `sha256 \`${found.sha256.slice(0, 16)}…\` · [Show provenance](command:builderos.showFileProvenance?${args})`,
      );
      md.isTrusted = { enabledCommands: ["builderos.showFileProvenance"] };
      return new vscode.Hover(md);
    },
  };
}
