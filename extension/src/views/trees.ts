// The BuilderOS views: each a TreeDataProvider over plain nodes, refreshed when the daemon says so.

import * as vscode from "vscode";
import type { Daemon } from "../daemon";
import { Coalescer, deploymentRow, groupRuns, runLabel, statusIcon } from "../core/models";
import {
  Method,
  type Approval,
  type Deployment,
  type Desk,
  type RunSummary,
  type WorkspaceIndex,
} from "../protocol";

export interface Node {
  id?: string;
  label: string;
  description?: string;
  tooltip?: string;
  icon?: string;
  contextValue?: string;
  command?: vscode.Command;
  children?: Node[];
  resource?: vscode.Uri;
  payload?: unknown;
}

export class Tree implements vscode.TreeDataProvider<Node> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private nodes: Node[] = [];
  private readonly loads = new Coalescer(() => this.reload());

  constructor(
    readonly id: string,
    private readonly load: () => Promise<Node[]>,
    private readonly empty: string,
  ) {}

  /**
   * Reloads from the daemon: one load at a time, and a refresh asked for while one runs gets a
   * load of its own after it, so a change that arrives mid-load (a run finishing) is never lost.
   */
  refresh(): Promise<void> {
    return this.loads.run();
  }

  private async reload(): Promise<void> {
    try {
      this.nodes = await this.load();
    } catch (err) {
      this.nodes = [{ label: (err as Error).message, icon: "warning" }];
    }
    this.changed.fire();
  }

  get roots(): Node[] {
    return this.nodes;
  }

  getTreeItem(node: Node): vscode.TreeItem {
    const item = new vscode.TreeItem(
      node.label,
      node.children?.length ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None,
    );
    item.id = node.id;
    item.description = node.description;
    item.tooltip = node.tooltip;
    item.contextValue = node.contextValue;
    item.command = node.command;
    item.resourceUri = node.resource;
    if (node.icon) item.iconPath = new vscode.ThemeIcon(node.icon);
    return item;
  }

  getChildren(node?: Node): Node[] {
    if (node) return node.children ?? [];
    return this.nodes.length ? this.nodes : [{ label: this.empty, icon: "info" }];
  }
}

function fileNode(
  root: vscode.Uri | undefined,
  file: string,
  label: string,
  extra: Partial<Node> = {},
): Node {
  const uri = root ? vscode.Uri.joinPath(root, file) : undefined;
  return {
    label,
    tooltip: file,
    command: uri ? { title: "Open", command: "vscode.open", arguments: [uri] } : undefined,
    ...extra,
  };
}

export interface Views {
  runs: Tree;
  approvals: Tree;
  pipelines: Tree;
  agents: Tree;
  prompts: Tree;
  policies: Tree;
  desks: Tree;
  deployments: Tree;
  approvalsView: vscode.TreeView<Node>;
  pendingApprovals: Approval[];
  index: WorkspaceIndex | undefined;
  all(): Tree[];
}

export function createViews(daemon: Daemon, context: vscode.ExtensionContext): Views {
  const root = () => vscode.workspace.workspaceFolders?.[0]?.uri;
  const state = { pendingApprovals: [] as Approval[], index: undefined as WorkspaceIndex | undefined };
  const index = async () => {
    state.index = await daemon.request<WorkspaceIndex>(Method.workspaceIndex);
    return state.index;
  };

  const runs = new Tree(
    "builderos.runs",
    async () => {
      const list = await daemon.request<RunSummary[]>(Method.runs);
      const now = Date.now();
      return groupRuns(list).map((g) => ({
        label: g.pipeline,
        icon: "symbol-event",
        id: `pipeline:${g.pipeline}`,
        children: g.runs.map((r) => {
          const { label, description } = runLabel(r, now);
          return {
            id: `run:${r.id}`,
            label,
            description,
            icon: statusIcon(r.status),
            tooltip: `${r.pipeline} ${r.id}\n${r.status}`,
            contextValue: "run",
            payload: r,
            command: { title: "Show Timeline", command: "builderos.showTimeline", arguments: [r.id] },
          };
        }),
      }));
    },
    "No runs yet: ▶ Run a pipeline",
  );

  const approvals = new Tree(
    "builderos.approvals",
    async () => {
      state.pendingApprovals = await daemon.request<Approval[]>(Method.approvals);
      return state.pendingApprovals.map((a) => ({
        id: `approval:${a.id}`,
        label: a.summary,
        description: `${a.step_id} · ${a.risk}`,
        tooltip: `${a.rule}\nrun ${a.run_id}`,
        icon: "shield",
        contextValue: "approval",
        payload: a,
        command: { title: "Review", command: "builderos.reviewApproval", arguments: [a.id] },
      }));
    },
    "No approvals waiting",
  );

  const pipelines = new Tree(
    "builderos.pipelines",
    async () =>
      (await index()).pipelines.map((p) =>
        fileNode(root(), p.file, p.name, {
          description: p.description,
          icon: "symbol-event",
          contextValue: "pipeline",
          payload: p,
          children: p.steps.map((s) => ({ label: s, icon: "debug-stackframe-dot" })),
        }),
      ),
    "No pipelines",
  );

  const agents = new Tree(
    "builderos.agents",
    async () =>
      (await index()).agents.map((a) =>
        fileNode(root(), a.file, a.name, {
          description: [a.role, a.prompt, a.model].filter(Boolean).join(" · "),
          icon: "hubot",
        }),
      ),
    "No agents",
  );

  const prompts = new Tree(
    "builderos.prompts",
    async () =>
      (await index()).prompts.map((p) => ({
        label: p.name,
        icon: "note",
        children: p.versions.map((v) =>
          fileNode(root(), v.file, `${p.name}@${v.version}`, {
            description: v.snapshot ? "snapshot" : v.file,
            icon: v.snapshot ? "lock" : "versions",
          }),
        ),
      })),
    "No prompts",
  );

  const policies = new Tree(
    "builderos.policies",
    async () =>
      (await index()).policies.map((p) =>
        fileNode(root(), p.file, p.file, {
          description: `default: ${p.default}`,
          icon: "law",
          children: p.approvals.map((r) => ({
            label: `approval: ${Object.entries(r)
              .map(([k, v]) => `${k}=${String(v)}`)
              .join(" ")}`,
            icon: "shield",
          })),
        }),
      ),
    "No policy",
  );

  const desks = new Tree(
    "builderos.desks",
    async () => {
      try {
        const { desks: list } = await daemon.request<{ desks: Desk[] }>(Method.deskList);
        return list.map((d) => ({
          label: `${d.name}@${d.version}`,
          description: `${d.source} · ${d.description}`,
          icon: "package",
        }));
      } catch (err) {
        return [{ label: `desks: ${(err as Error).message}`, icon: "warning" }];
      }
    },
    "No desks",
  );

  const deployments = new Tree(
    "builderos.deployments",
    async () => {
      const { environments } = await daemon.request<{ environments: Deployment[] }>(Method.deployments);
      return environments.map((d) => {
        const row = deploymentRow(d);
        return {
          id: `env:${d.env}`,
          label: row.label,
          description: row.description,
          icon: d.current ? "cloud-upload" : "cloud",
          contextValue: row.canRollback ? "deployment.rollback" : "deployment",
          payload: d,
          children: d.history
            .slice()
            .reverse()
            .map((h) => ({
              label: `${String(h["action"])} ${String(h["release"])}`,
              description: String(h["ts"] ?? ""),
              icon: h["action"] === "rollback" ? "history" : "arrow-up",
            })),
        };
      });
    },
    "No environments",
  );

  const approvalsView = vscode.window.createTreeView("builderos.approvals", { treeDataProvider: approvals });
  context.subscriptions.push(
    vscode.window.registerTreeDataProvider("builderos.runs", runs),
    approvalsView,
    vscode.window.registerTreeDataProvider("builderos.pipelines", pipelines),
    vscode.window.registerTreeDataProvider("builderos.agents", agents),
    vscode.window.registerTreeDataProvider("builderos.prompts", prompts),
    vscode.window.registerTreeDataProvider("builderos.policies", policies),
    vscode.window.registerTreeDataProvider("builderos.desks", desks),
    vscode.window.registerTreeDataProvider("builderos.deployments", deployments),
  );
  approvals.onDidChangeTreeData(() => {
    const n = state.pendingApprovals.length;
    approvalsView.badge = n ? { value: n, tooltip: `${n} approval${n === 1 ? "" : "s"} waiting` } : undefined;
  });

  return {
    runs,
    approvals,
    pipelines,
    agents,
    prompts,
    policies,
    desks,
    deployments,
    approvalsView,
    get pendingApprovals() {
      return state.pendingApprovals;
    },
    get index() {
      return state.index;
    },
    all: () => [runs, approvals, pipelines, agents, prompts, policies, desks, deployments],
  };
}
