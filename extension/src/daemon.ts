// Owns the language client: finds a Python with BuilderOS, offers to install it, starts the daemon,
// restarts it (coalesced), and fans the daemon's notifications out to the views and panels.

import * as cp from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  LanguageClient,
  State,
  type LanguageClientOptions,
  type Middleware,
  type ServerOptions,
} from "vscode-languageclient/node";
import { Coalescer, installSpec, interpreterCandidates } from "./core/models";
import { Notification, type RunEvent } from "./protocol";

export type DaemonState = "starting" | "ready" | "failed" | "stopped";

/** What `python -c "import builderos"` told us about one interpreter. */
interface Probe {
  python: string;
  ok: boolean;
  detail: string;
}

function probe(python: string, cwd: string | undefined): Promise<Probe> {
  return new Promise((resolve) => {
    cp.execFile(
      python,
      ["-c", "import builderos, sys; print(builderos.__version__, sys.executable)"],
      { cwd, timeout: 15_000 },
      (err, stdout, stderr) => {
        if (err) {
          const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
          resolve({
            python,
            ok: false,
            detail: missing ? "not found" : (stderr.trim().split("\n").pop() ?? String(err)),
          });
        } else resolve({ python, ok: true, detail: stdout.trim() });
      },
    );
  });
}

export class Daemon implements vscode.Disposable {
  client: LanguageClient | undefined;
  state: DaemonState = "stopped";
  readyAt: number | undefined;
  /** performance.now() marks: client start, ready, first diagnostics (for the benchmark and the log). */
  readonly marks: { start?: number; ready?: number; firstDiagnostics?: number } = {};
  readonly log: vscode.LogOutputChannel;
  private readonly status: vscode.LanguageStatusItem;
  private readonly stateEmitter = new vscode.EventEmitter<DaemonState>();
  private readonly eventEmitter = new vscode.EventEmitter<{ runId: string; event: RunEvent }>();
  private readonly changedEmitter = new vscode.EventEmitter<{ runId: string; status: string }>();
  private readonly approvalEmitter = new vscode.EventEmitter<Record<string, unknown>>();
  private readonly restarts: Coalescer;
  readonly onState = this.stateEmitter.event;
  readonly onRunEvent = this.eventEmitter.event;
  readonly onRunsChanged = this.changedEmitter.event;
  readonly onApprovalRequested = this.approvalEmitter.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly middleware: Middleware,
  ) {
    this.log = vscode.window.createOutputChannel("BuilderOS", { log: true });
    this.status = vscode.languages.createLanguageStatusItem("builderos.status", [
      { scheme: "file", language: "yaml" },
    ]);
    this.status.name = "BuilderOS";
    this.status.command = { title: "Restart", command: "builderos.restartDaemon" };
    this.restarts = new Coalescer(() => this.restartNow());
  }

  get folder(): string | undefined {
    return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  }

  private setState(state: DaemonState, detail?: string): void {
    this.state = state;
    this.status.busy = state === "starting";
    this.status.text = {
      starting: "BuilderOS starting",
      ready: "BuilderOS ready",
      failed: "BuilderOS failed",
      stopped: "BuilderOS stopped",
    }[state];
    this.status.detail = detail;
    this.status.severity =
      state === "failed" ? vscode.LanguageStatusSeverity.Error : vscode.LanguageStatusSeverity.Information;
    if (state === "ready") this.readyAt = Date.now();
    this.stateEmitter.fire(state);
  }

  /** The interpreter to run the daemon with: the first candidate that can import builderos. */
  async findPython(): Promise<{ python?: string; tried: Probe[] }> {
    const config = vscode.workspace.getConfiguration("builderos");
    const candidates = interpreterCandidates({
      setting: config.get<string>("python"),
      workspaceFolder: this.folder,
      pythonExtension: await this.pythonExtensionInterpreter(),
      exists: (p) => fs.existsSync(p),
    });
    const privateVenv = this.privatePython();
    if (fs.existsSync(privateVenv)) candidates.push(privateVenv);
    const tried: Probe[] = [];
    for (const python of candidates) {
      const p = await probe(python, this.folder);
      tried.push(p);
      if (p.ok) return { python, tried };
    }
    return { tried };
  }

  private async pythonExtensionInterpreter(): Promise<string | undefined> {
    const ext = vscode.extensions.getExtension("ms-python.python");
    if (!ext) return undefined;
    try {
      const api = (ext.isActive ? ext.exports : await ext.activate()) as {
        environments?: { getActiveEnvironmentPath(): { path: string } };
      };
      return api.environments?.getActiveEnvironmentPath().path;
    } catch {
      return undefined;
    }
  }

  private privatePython(): string {
    const bin =
      process.platform === "win32" ? path.join("Scripts", "python.exe") : path.join("bin", "python");
    return path.join(this.context.globalStorageUri.fsPath, "venv", bin);
  }

  async start(): Promise<void> {
    this.setState("starting");
    const { python, tried } = await this.findPython();
    for (const t of tried) this.log.info(`python ${t.python}: ${t.ok ? `builderos ${t.detail}` : t.detail}`);
    if (!python) {
      const detail = `No Python with the builderos package (tried ${tried.map((t) => t.python).join(", ")})`;
      this.setState("failed", detail);
      this.log.error(detail);
      const choice = await vscode.window.showErrorMessage(
        `${detail}. Install BuilderOS into a private environment of this extension, or set "builderos.python".`,
        "Install BuilderOS",
        "Open Settings",
      );
      if (choice === "Install BuilderOS") {
        if (await this.install(tried.find((t) => t.detail !== "not found")?.python ?? "python3")) {
          return this.start();
        }
      } else if (choice === "Open Settings") {
        void vscode.commands.executeCommand("workbench.action.openSettings", "builderos.python");
      }
      return;
    }
    await this.launch(python);
  }

  /** Creates the private venv and pip-installs the package into it, with progress. */
  private async install(basePython: string): Promise<boolean> {
    const venv = path.join(this.context.globalStorageUri.fsPath, "venv");
    const spec = installSpec({
      setting: vscode.workspace.getConfiguration("builderos").get<string>("installSpec"),
      bundledWheels: bundledWheels(this.context.extensionPath),
      extensionPath: this.context.extensionPath,
    });
    const run = (cmd: string, args: string[]) =>
      new Promise<void>((resolve, reject) => {
        this.log.info(`$ ${cmd} ${args.join(" ")}`);
        const child = cp.spawn(cmd, args, { cwd: this.folder });
        child.stdout.on("data", (d: Buffer) => this.log.info(d.toString().trimEnd()));
        child.stderr.on("data", (d: Buffer) => this.log.warn(d.toString().trimEnd()));
        child.on("error", reject);
        child.on("exit", (code) =>
          code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`)),
        );
      });
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: "Installing BuilderOS", cancellable: false },
        async (progress) => {
          fs.mkdirSync(this.context.globalStorageUri.fsPath, { recursive: true });
          progress.report({ message: "creating a private environment…", increment: 10 });
          await run(basePython, ["-m", "venv", venv]);
          progress.report({ message: `pip install ${spec}…`, increment: 30 });
          await run(this.privatePython(), ["-m", "pip", "install", "--upgrade", spec]);
          progress.report({ message: "done", increment: 60 });
        },
      );
      return true;
    } catch (err) {
      const msg = `Installing BuilderOS failed: ${(err as Error).message}. See the BuilderOS output for pip's log.`;
      this.log.error(msg);
      void vscode.window.showErrorMessage(msg, "Show Log").then((c) => c && this.log.show());
      return false;
    }
  }

  private async launch(python: string): Promise<void> {
    const serverOptions: ServerOptions = {
      command: python,
      args: ["-m", "builderos", "serve", "--stdio"],
      options: { cwd: this.folder },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: "file", language: "yaml" },
        { scheme: "file", pattern: "**/context/*.json" },
      ],
      outputChannel: this.log,
      middleware: {
        ...this.middleware,
        handleDiagnostics: (uri, diagnostics, next) => {
          this.marks.firstDiagnostics ??= performance.now();
          next(uri, diagnostics);
        },
      },
      initializationFailedHandler: (err) => {
        this.setState("failed", String(err));
        return false;
      },
    };
    const client = new LanguageClient("builderos", "BuilderOS", serverOptions, clientOptions);
    this.client = client;
    client.onNotification(Notification.runEvent, (p: { runId: string; event: RunEvent }) =>
      this.eventEmitter.fire(p),
    );
    client.onNotification(Notification.runsChanged, (p: { runId: string; status: string }) =>
      this.changedEmitter.fire(p),
    );
    client.onNotification(Notification.approvalRequested, (p: Record<string, unknown>) =>
      this.approvalEmitter.fire(p),
    );
    client.onDidChangeState((e) => {
      if (e.newState === State.Stopped && this.state === "ready")
        this.setState("failed", "the daemon stopped");
    });
    try {
      this.marks.start = performance.now();
      await client.start();
      this.marks.ready = performance.now();
      this.setState("ready", `${python}`);
      this.log.info(`daemon ready (${python})`);
    } catch (err) {
      const msg = `The BuilderOS daemon could not start with ${python}: ${(err as Error).message}`;
      this.setState("failed", msg);
      this.log.error(msg);
      void vscode.window.showErrorMessage(msg, "Show Log", "Restart").then((c) => {
        if (c === "Show Log") this.log.show();
        if (c === "Restart") void this.restart();
      });
    }
  }

  /** Restart requests made while one runs share a single follow-up restart. */
  restart(): Promise<void> {
    return this.restarts.run();
  }

  private async restartNow(): Promise<void> {
    this.log.info("restarting the daemon");
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.stop(5000);
      } catch (err) {
        this.log.warn(`stopping the daemon: ${(err as Error).message}`);
      }
    }
    this.setState("stopped");
  }

  async request<T>(method: string, params: unknown = {}): Promise<T> {
    if (!this.client || this.state !== "ready") throw new Error("the BuilderOS daemon is not running");
    return this.client.sendRequest<T>(method, params);
  }

  dispose(): void {
    void this.stop();
    this.status.dispose();
    this.log.dispose();
  }
}

/** The BuilderOS wheels packaged in the .vsix (`python/*.whl`; none in a development checkout). */
function bundledWheels(extensionPath: string): string[] {
  try {
    return fs.readdirSync(path.join(extensionPath, "python")).filter((n) => n.endsWith(".whl"));
  } catch {
    return [];
  }
}
