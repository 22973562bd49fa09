"""End to end, as a student: JupyterLab in a real headless browser runs every student notebook.

nbval executes the notebooks in a kernel; students use JupyterLab in a browser, where widgets and
rich outputs can fail while nbval stays green. This test starts JupyterLab from the running
interpreter on 127.0.0.1 (random port and token, a temporary copy of ``notebooks/``, artifacts in a
temporary folder), drives Chromium headless through Playwright and, for each student notebook:

* opens it, runs *Run → Run All Cells* and waits until every cell has run and the kernel is idle;
* asserts that no cell shows an error, that every widget rendered, and that every self-check shows
  its status line (an untouched student notebook says "⏳ ... not attempted yet");
* saves it from the browser and checks what JupyterLab stored (no error outputs, one machine-readable
  check record per exercise).

In notebook 04 it then moves the dashboard's "windows" slider and changes its metric, and asserts that
the dashboard image is redrawn. Screenshots, the dashboard PNGs and ``report.json`` (timings, warnings
shown in the browser) go to ``artifacts_dir("e2e")``: ``runs/pytest/<worker>/e2e/`` under the repository's
conftest.py, ``$LABKIT_ARTIFACTS/e2e`` otherwise.

The browser is the system's Chromium (Debian packages ``chromium`` and ``chromium-driver``; ``.ci/run``
installs them), or ``LABKIT_CHROMIUM=/path/to/chromium``, or Playwright's own download if one exists.
Without Playwright or Chromium the test is skipped with the install command, except under
``LABKIT_REQUIRE_BROWSER=1`` (CI), where it fails. ``LABKIT_SKIP_BROWSER=1`` skips it on purpose.
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from labkit.paths import REPO_ROOT, artifacts_dir

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
DASHBOARD_NOTEBOOK = "04_monitoring_dashboard.ipynb"
CHECK_CALL = re.compile(r"""check\(\s*["'](\d\d\.\w+)["']""")
STATUS_ICONS = ("✅", "❌", "⏳")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

SERVER_START_TIMEOUT = 120     # s until JupyterLab answers
PAGE_TIMEOUT = 90              # s until a notebook is open with its kernel idle
NOTEBOOK_TIMEOUT = 300         # s for Run All Cells of one notebook (they take 10-60 s)
REDRAW_TIMEOUT = 60            # s for the dashboard to redraw after a control moves

INSTALL_HINT = (
    "It needs the Python package playwright (in requirements.lock: `make setup`, or `pip install playwright`) "
    "and a Chromium: `sudo apt-get install chromium chromium-driver` (Debian/Ubuntu), "
    "`python -m playwright install chromium` (elsewhere), or LABKIT_CHROMIUM=/path/to/chromium-or-chrome. "
    "To skip this test on purpose: LABKIT_SKIP_BROWSER=1 make test, or pytest --ignore=tests/e2e."
)


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------

def _unavailable(reason: str):
    message = f"JupyterLab browser test not run: {reason}. {INSTALL_HINT}"
    if os.environ.get("LABKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{message} LABKIT_REQUIRE_BROWSER=1 is set (CI): the browser test must run.", pytrace=False)
    pytest.skip(message)


def _find_chromium(playwright) -> str | None:
    explicit = os.environ.get("LABKIT_CHROMIUM")
    if explicit:
        found = shutil.which(explicit) or (explicit if Path(explicit).is_file() else None)
        if not found:
            _unavailable(f"LABKIT_CHROMIUM={explicit!r} is not an executable file")
        return found
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    bundled = playwright.chromium.executable_path  # Playwright's own download, when the user made one
    return bundled if bundled and Path(bundled).is_file() else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Loopback only: never through a proxy from the user's environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _api(base: str, token: str, path: str, method: str = "GET", timeout: float = 10):
    request = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with _OPENER.open(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop_process_tree(proc: subprocess.Popen) -> None:
    """Stop JupyterLab and everything it started (kernels run in sessions of their own)."""
    try:
        import psutil  # a dependency of ipykernel

        children = psutil.Process(proc.pid).children(recursive=True)
    except Exception:  # the server is already gone, or no psutil
        children = []
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
    if children:
        import psutil

        alive = [c for c in children if c.is_running()]
        for child in alive:
            try:
                child.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(alive, timeout=5)
        for child in alive:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass


# ----------------------------------------------------------------------------------------------
# fixtures: browser, server, the lab session that runs notebooks
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shots() -> Path:
    folder = artifacts_dir("e2e")
    for old in [*folder.glob("*.png"), folder / "report.json"]:
        old.unlink(missing_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    if os.environ.get("LABKIT_SKIP_BROWSER") == "1" and os.environ.get("LABKIT_REQUIRE_BROWSER") != "1":
        pytest.skip("LABKIT_SKIP_BROWSER=1: JupyterLab browser test skipped on request")
    if not NOTEBOOKS:
        pytest.fail("notebooks/ holds no student notebooks", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the Python package `playwright` is not installed in this environment")
    playwright = sync_playwright().start()
    try:
        executable = _find_chromium(playwright)
        if executable is None:
            _unavailable("no Chromium found (looked for `chromium` and `chromium-browser` on PATH, "
                         "LABKIT_CHROMIUM and Playwright's own download)")
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, timeout=60_000,
            args=[
                "--no-proxy-server",
                # The lab is offline: anything but loopback fails to resolve (and is reported below).
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                "--disable-dev-shm-usage",  # containers with a small /dev/shm
            ],
        )
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@dataclass
class LabServer:
    base: str
    token: str
    root: Path
    log: Path


@pytest.fixture(scope="module")
def lab_server(browser, tmp_path_factory):
    """JupyterLab from this interpreter on a temporary copy of notebooks/, stopped on teardown."""
    tmp = tmp_path_factory.mktemp("lab_e2e")
    root = tmp / "lab"
    shutil.copytree(REPO_ROOT / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    # The kernel is this interpreter, whatever kernelspecs the user has installed elsewhere.
    kernel_dir = tmp / "jupyter-data" / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python",
        "metadata": {"debugger": True},
    }))
    # Front-end settings of a fresh student: no news or update checks (the lab is offline).
    settings = tmp / "lab-settings"
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"checkForUpdates": False, "fetchNews": "false"}))

    env = {
        **os.environ,
        "LABKIT_ARTIFACTS": str(tmp / "runs"),          # what the notebooks write
        "JUPYTER_PATH": os.pathsep.join(filter(None, [str(tmp / "jupyter-data"), os.environ.get("JUPYTER_PATH")])),
        "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"),  # ignore the user's ~/.jupyter
        "JUPYTER_RUNTIME_DIR": str(tmp / "jupyter-runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "lab-workspaces"),
        "IPYTHONDIR": str(tmp / "ipython"),
        "PYTHONUNBUFFERED": "1",
    }
    port, token = _free_port(), secrets.token_hex(24)
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--port-retries=0", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
        "--KernelSpecManager.ensure_native_kernel=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = tmp / "jupyterlab.log"
    base = f"http://127.0.0.1:{port}"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {proc.returncode} before answering:\n{_tail(log)}",
                            pytrace=False)
            try:
                _api(base, token, "/api/status", timeout=2)
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer on {base} within {SERVER_START_TIMEOUT} s:\n{_tail(log)}",
                                pytrace=False)
                time.sleep(0.25)
        spec = _api(base, token, "/api/kernelspecs")["kernelspecs"]["python3"]["spec"]
        assert spec["argv"][0] == sys.executable, f"JupyterLab would start the kernel {spec['argv'][0]}"
        yield LabServer(base=base, token=token, root=root, log=log)
    finally:
        _stop_process_tree(proc)


@dataclass
class NotebookRun:
    name: str
    page: object
    seconds: float
    cells: list = field(default_factory=list)
    saved: dict | None = None
    console_errors: list = field(default_factory=list)
    page_errors: list = field(default_factory=list)
    external_requests: list = field(default_factory=list)


# What the browser shows: per cell, its kind, prompt and outputs (mime type, text, widget state).
_READ_CELLS = """
() => Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')).map(cell => ({
  index: Number(cell.getAttribute('data-windowed-list-index')),
  code: cell.classList.contains('jp-CodeCell'),
  prompt: cell.querySelector('.jp-InputArea-prompt')?.textContent?.trim() ?? '',
  outputs: Array.from(cell.querySelectorAll('.jp-OutputArea-output')).map(out => ({
    mime: out.getAttribute('data-mime-type') ?? '',
    text: (out.innerText || out.textContent || '').slice(0, 4000),
    widgets: out.querySelectorAll('.jupyter-widgets').length,
    hidden: out.classList.contains('lm-mod-hidden'),
  })),
}))
"""

_PROGRESS = """
() => ({
  prompts: Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell')).map(cell => [
    Number(cell.getAttribute('data-windowed-list-index')),
    cell.querySelector('.jp-InputArea-prompt')?.textContent?.trim() ?? '']),
  status: document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator')?.getAttribute('data-status'),
})
"""

_KERNEL_IDLE = """
() => /\\|\\s*Idle/.test(document.querySelector('#jp-main-statusbar')?.textContent ?? '')
"""


class Lab:
    """One browser context on one JupyterLab; runs each notebook once and keeps what it saw."""

    def __init__(self, server: LabServer, browser, shots: Path):
        self.server, self.shots = server, shots
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.set_default_timeout(30_000)
        self.runs: dict[str, NotebookRun] = {}
        self.report: dict = {"notebooks": {}}

    def close(self):
        (self.shots / "report.json").write_text(json.dumps(self.report, indent=2, ensure_ascii=False) + "\n")
        self.context.close()

    def _menu(self, page, menu: str, command: str):
        page.locator("#jp-menu-panel .lm-MenuBar-item", has_text=re.compile(rf"^{menu}$")).click()
        page.locator(f".lm-Menu-item[data-command='{command}']").click()

    def shutdown_kernel(self, name: str):
        """Close the notebook's page and shut its kernel down (frees memory for the next one)."""
        run = self.runs.get(name)
        if run is not None and not run.page.is_closed():
            run.page.close()
        try:
            for session in _api(self.server.base, self.server.token, "/api/sessions"):
                if session.get("path", "").endswith(name):
                    _api(self.server.base, self.server.token, f"/api/sessions/{session['id']}", method="DELETE")
        except (urllib.error.URLError, OSError):
            pass

    def run(self, notebook: Path) -> NotebookRun:
        if notebook.name not in self.runs:
            try:
                self._run(notebook)
            except BaseException:
                self.shutdown_kernel(notebook.name)
                self.runs.pop(notebook.name, None)
                raise
        return self.runs[notebook.name]

    def _run(self, notebook: Path) -> None:
        import nbformat

        source_nb = nbformat.read(notebook, as_version=4)
        code_cells = [i for i, c in enumerate(source_nb.cells) if c.cell_type == "code" and c.source.strip()]
        page = self.context.new_page()
        run = NotebookRun(name=notebook.name, page=page, seconds=float("nan"))
        self.runs[notebook.name] = run
        local = (self.server.base, self.server.base.replace("http:", "ws:"), "data:", "blob:", "about:")
        page.on("console", lambda m: m.type == "error" and run.console_errors.append(m.text[:500]))
        page.on("pageerror", lambda e: run.page_errors.append(str(e)[:500]))
        page.on("request", lambda r: None if r.url.startswith(local) else run.external_requests.append(r.url))

        stem = notebook.stem
        url = (f"{self.server.base}/lab/workspaces/e2e-{stem}/tree/notebooks/{notebook.name}"
               f"?reset&token={self.server.token}")
        page.goto(url, timeout=PAGE_TIMEOUT * 1000)
        cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
        deadline = time.monotonic() + PAGE_TIMEOUT
        while cells.count() < len(source_nb.cells) or not page.evaluate(_KERNEL_IDLE):
            if time.monotonic() > deadline:
                page.screenshot(path=self.shots / f"{stem}_did_not_open.png")
                pytest.fail(f"{notebook.name}: not open with an idle kernel after {PAGE_TIMEOUT} s "
                            f"({cells.count()}/{len(source_nb.cells)} cells shown)", pytrace=False)
            time.sleep(0.25)

        # As a student does: select the first cell, then Run -> Run All Cells.
        cells.first.click(position={"x": 8, "y": 4})  # the cell's left margin, not a link in it
        self._menu(page, "Run", "runmenu:run-all")
        started = time.monotonic()
        done_twice, progress = 0, {}
        while done_twice < 2:
            time.sleep(0.5)
            progress = page.evaluate(_PROGRESS)
            prompts = [p for _, p in progress["prompts"]]
            begun = any(p != "[ ]:" for p in prompts)
            running = any("*" in p for p in prompts)
            done_twice = done_twice + 1 if begun and not running and progress["status"] == "idle" else 0
            if time.monotonic() - started > NOTEBOOK_TIMEOUT:
                page.screenshot(path=self.shots / f"{stem}_timeout.png")
                stuck = [i for i, p in progress["prompts"] if "*" in p]
                source = source_nb.cells[stuck[0]].source[:300] if stuck else ""
                pytest.fail(f"{notebook.name}: Run All Cells still running after {NOTEBOOK_TIMEOUT} s; "
                            f"{len(stuck)} cells not finished, the first is cell {stuck[0] if stuck else '?'}:\n"
                            f"{source}\n(kernel {progress['status']}; screenshot {stem}_timeout.png)", pytrace=False)
        run.seconds = time.monotonic() - started
        run.cells = page.evaluate(_READ_CELLS)
        page.screenshot(path=self.shots / f"{stem}.png")

        # Save from the browser and read back what JupyterLab stored.
        saved_path = self.server.root / "notebooks" / notebook.name
        self._menu(page, "File", "docmanager:save")
        deadline = time.monotonic() + 30
        while True:
            try:
                saved = nbformat.reads(saved_path.read_text(encoding="utf-8"), as_version=4)
                if all(saved.cells[i].get("execution_count") for i in code_cells):
                    run.saved = saved
                    break
            except (ValueError, OSError, IndexError):
                pass  # still being written
            if time.monotonic() > deadline:
                break
            time.sleep(0.25)

        stderr = [f"cell {c['index']}: {o['text'][:300]}" for c in run.cells for o in c["outputs"]
                  if o["mime"] == "application/vnd.jupyter.stderr"]
        self.report["notebooks"][notebook.name] = {
            "run_all_seconds": round(run.seconds, 1), "stderr_shown": stderr,
            "console_errors": run.console_errors, "page_errors": run.page_errors,
            "external_requests": run.external_requests,
        }


@pytest.fixture(scope="module")
def lab(lab_server, browser, shots):
    session = Lab(lab_server, browser, shots)
    try:
        yield session
    finally:
        session.close()


# ----------------------------------------------------------------------------------------------
# tests
# ----------------------------------------------------------------------------------------------

_WIDGET_FAILED = re.compile(r"Error (displaying|rendering) widget|Failed to display|model not found")
_WIDGET_REPR = re.compile(r"^(\w+Box|\w*Slider|\w*Progress|Dropdown|Image|HTML|Label|Button|Output)\(")
_ERROR_LINE = re.compile(r"(?m)\bTraceback\b|^\S*(Error|Exception)\b.*:")  # as JupyterLab shows an error


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_notebook_runs_in_jupyterlab(lab, notebook):
    from labkit_instructor.release import collect_results

    source_nb = json.loads(notebook.read_text(encoding="utf-8"))
    run = lab.run(notebook)
    try:
        assert run.saved is not None, f"{notebook.name}: JupyterLab did not save the executed notebook"
        by_index = {c["index"]: c for c in run.cells}
        assert len(by_index) == len(source_nb["cells"]), "the browser shows a different number of cells"

        # No cell shows an error.
        errors = [f"cell {c['index']}: {o['text'][:1500]}" for c in run.cells for o in c["outputs"]
                  if o["mime"] == "application/vnd.jupyter.stderr" and _ERROR_LINE.search(o["text"])]
        assert not errors, f"{notebook.name} shows errors in JupyterLab:\n" + "\n\n".join(errors)

        # Every code cell ran (Run All stops at the first error).
        not_run = [i for i, c in enumerate(source_nb["cells"]) if c["cell_type"] == "code"
                   and "".join(c["source"]).strip() and not re.fullmatch(r"\[\d+\]:", by_index[i]["prompt"])]
        assert not not_run, f"{notebook.name}: cells {not_run} did not run in JupyterLab"

        # Every widget rendered as a widget: not as its text fallback, not "Error displaying widget".
        # (JupyterLab gives widget outputs no data-mime-type; a closed widget, e.g. a finished tqdm bar,
        # stays as a hidden output.)
        saved_widgets = sum(WIDGET_MIME in o.get("data", {}) for c in run.saved.cells if c.cell_type == "code"
                            for o in c.get("outputs", []))
        shown = [o for c in run.cells for o in c["outputs"] if not o["mime"]]
        assert len(shown) == saved_widgets, (
            f"{notebook.name}: {saved_widgets} widget outputs saved, {len(shown)} rendered as widgets")
        broken = [o["text"][:200] for o in shown
                  if (not o["hidden"] and not o["widgets"]) or _WIDGET_FAILED.search(o["text"])]
        broken += [o["text"][:200] for c in run.cells for o in c["outputs"]
                   if o["mime"] == "text/plain" and _WIDGET_REPR.match(o["text"])]
        assert not broken, f"{notebook.name}: widgets did not render in JupyterLab: {broken}"

        # Every self-check shows its status line, visibly.
        checks = [(i, m) for i, c in enumerate(source_nb["cells"]) if c["cell_type"] == "code"
                  for m in CHECK_CALL.findall("".join(c["source"]))]
        assert checks, f"{notebook.name} has no self-checked exercise"
        for index, exercise in checks:
            texts = [o["text"] for o in by_index[index]["outputs"]]
            status = [t for t in texts if exercise in t and any(icon in t for icon in STATUS_ICONS)]
            assert status, f"{notebook.name}: the check of {exercise} (cell {index}) shows no status; outputs: {texts}"
            assert "⏳" in status[0] and "not attempted yet" in status[0], (
                f"{notebook.name}: untouched exercise {exercise} should say '⏳ ... not attempted yet', "
                f"shows {status[0]!r}")
            line = run.page.locator(f".jp-NotebookPanel .jp-Cell[data-windowed-list-index='{index}'] "
                                    ".jp-OutputArea-output", has_text="not attempted yet").first
            line.scroll_into_view_if_needed()
            assert line.is_visible(), f"{notebook.name}: the status line of {exercise} is not visible"

        # What JupyterLab saved: no error output, one check record per exercise.
        error_outputs = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(run.saved.cells)
                         if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not error_outputs, f"{notebook.name}: error outputs in the saved notebook: {error_outputs}"
        records = collect_results(run.saved)
        assert [r["exercise"] for r in records] == [m for _, m in checks]
        assert {r["status"] for r in records} == {"not_attempted"}

        # The lab stays offline in the browser too.
        assert not run.external_requests, f"{notebook.name}: the browser tried to reach {run.external_requests}"
    finally:
        if notebook.name != DASHBOARD_NOTEBOOK:
            lab.shutdown_kernel(notebook.name)


_IMAGE_BYTES = """
async img => {
  const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
"""


_GLYPH_DRAWN = """glyphs => {
  const canvas = document.createElement('canvas'); canvas.width = canvas.height = 64;
  const g = canvas.getContext('2d');
  const draw = s => { g.clearRect(0, 0, 64, 64); g.font = '40px ' + getComputedStyle(document.body).fontFamily;
                      g.fillText(s, 4, 48); return canvas.toDataURL(); };
  const missing = draw(String.fromCodePoint(0x10FFFD));   // no font has it: the missing-glyph box
  return glyphs.map(s => draw(s) !== missing);
}"""


def test_dashboard_redraws_when_a_control_moves(lab, shots):
    notebook = REPO_ROOT / "notebooks" / DASHBOARD_NOTEBOOK
    if not notebook.exists():
        pytest.skip(f"{DASHBOARD_NOTEBOOK} is not in notebooks/ yet")
    run = lab.run(notebook)
    page = run.page
    try:
        box = (page.locator(".jp-OutputArea-output .widget-vbox")
               .filter(has=page.locator("img.widget-image")).filter(has_text="drawn in").first)
        box.scroll_into_view_if_needed()
        image = box.locator("img.widget-image")
        status = box.locator(".widget-html", has_text="drawn in")
        slider = box.locator(".widget-hslider", has_text="windows")
        readout = slider.locator(".widget-readout")
        metric = box.locator(".widget-dropdown", has_text="metric").locator("select")

        def state():
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(),
                                   timeout=REDRAW_TIMEOUT * 1000)
            return {"status": " ".join(status.text_content().split()), "src": image.get_attribute("src"),
                    "png": base64.b64decode(image.evaluate(_IMAGE_BYTES)), "readout": readout.text_content().strip()}

        def wait_for_redraw(before):
            page.wait_for_function(
                "([img, html, status, src]) => img.getAttribute('src') !== src && img.complete && "
                r"img.naturalWidth > 0 && html.textContent.split(/\s+/).join(" ").trim() !== status",
                arg=[image.element_handle(), status.element_handle(), before["status"], before["src"]],
                timeout=REDRAW_TIMEOUT * 1000)
            return state()

        initial = state()
        # The status glyphs the cards show are drawn by a real font, not as a missing-glyph box (issue 15).
        shown = [g for g in "✓⚠✗" if g in box.inner_text()]
        drawn = page.evaluate(_GLYPH_DRAWN, shown)
        assert shown and all(drawn), f"glyphs {shown}: drawn by a font {drawn} (False: a missing-glyph box)"
        windows = int(re.search(r"last (\d+) windows", initial["status"]).group(1))
        assert initial["readout"] == str(windows)
        box.screenshot(path=shots / "dashboard_1_initial.png")
        (shots / "dashboard_1_initial_image.png").write_bytes(initial["png"])

        # Drag the "windows" slider's handle to the middle of its track, as a student would.
        handle = slider.locator(".noUi-handle")
        track = slider.locator(".noUi-target").bounding_box()
        grip = handle.bounding_box()
        page.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
        page.mouse.down()
        page.mouse.move(track["x"] + track["width"] * 0.4, grip["y"] + grip["height"] / 2, steps=12)
        page.mouse.up()
        moved = wait_for_redraw(initial)
        shown = int(re.search(r"last (\d+) windows", moved["status"]).group(1))
        assert shown < windows, f"the slider moved left but the dashboard shows {shown} of {windows} windows"
        assert moved["readout"] == str(shown)
        assert moved["png"] != initial["png"], "the dashboard image did not change after the slider moved"
        box.screenshot(path=shots / "dashboard_2_after_slider.png")
        (shots / "dashboard_2_after_slider_image.png").write_bytes(moved["png"])

        # Change the metric: the performance panel is redrawn with RMSE.
        metric.select_option("rmse")
        switched = wait_for_redraw(moved)
        assert switched["status"].startswith("rmse"), switched["status"]
        assert f"last {shown} windows" in switched["status"]
        assert switched["png"] not in (moved["png"], initial["png"]), "the image did not change with the metric"
        box.screenshot(path=shots / "dashboard_3_after_metric.png")
        (shots / "dashboard_3_after_metric_image.png").write_bytes(switched["png"])
        lab.report["dashboard"] = {"initial": initial["status"], "after_slider": moved["status"],
                                   "after_metric": switched["status"]}
    finally:
        lab.shutdown_kernel(notebook.name)
