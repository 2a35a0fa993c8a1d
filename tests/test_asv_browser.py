"""The asv history pages render in headless Chromium with a data point for every benchmarked commit.

The fixture builds a throwaway git repository from the working tree (the tree as one commit, then
two more), runs the quick asv profile of one benchmark for each commit against this .venv
(``-E existing``: the commits differ only in their hash, which is all the pages need), publishes
the pages, makes them work offline as scripts/asv_quick.sh does (scripts/asv_offline.py: asv's
CDN scripts served from local copies) and serves them over HTTP (asv's pages load their data with
XHR, so file:// would not do). Chromium resolves no host but the local server, so a script still
loaded from a CDN fails the test. The test reads the points flot plotted and saves a screenshot to
test-output/asv_graph.png.

Needs chromium and chromedriver (Debian: ``apt-get install -y chromium chromium-driver``), what
scripts/asv_offline.py vendors (Debian's libjs-* packages, npm) and selenium (the ``bench`` extra).
Without them the test fails under CI (``CI=true``) and skips elsewhere.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK = "benchmarks.TensorProduct.time_forward"
COMMITS = 3
SCREENSHOT = ROOT / "test-output" / "asv_graph.png"
OFFLINE_SCRIPT = ROOT / "scripts" / "asv_offline.py"


def _asv_offline():
    spec = importlib.util.spec_from_file_location("asv_offline", OFFLINE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _require_browser() -> str:
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    missing += _asv_offline().missing()
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if missing:
        message = (f"{', '.join(missing)} not found; apt-get install -y chromium chromium-driver and the "
                   "packages scripts/asv_offline.py names, pip install selenium")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return shutil.which("chromedriver")


def _git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=tpcore tests", "-c", "user.email=tests@tpcore.invalid"]
    return subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def asv_pages(tmp_path_factory) -> tuple[Path, list[str]]:
    """Published asv pages of ``COMMITS`` commits, and the commit hashes."""
    repo = tmp_path_factory.mktemp("asv_repo")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "working tree")
    for k in range(1, COMMITS):
        _git(repo, "commit", "-q", "--allow-empty", "-m", f"commit {k}")
    commits = _git(repo, "rev-list", "HEAD").split()[::-1]
    asv = [sys.executable, "-m", "asv"]
    env = {**os.environ, "TPCORE_ASV_PROFILE": "quick", "HOME": str(repo)}  # asv machine file in HOME
    subprocess.run([*asv, "machine", "--yes", "--machine", "tpcore-test"], cwd=repo, env=env, check=True, capture_output=True)
    for commit in commits:
        run = subprocess.run([*asv, "run", "--quick", "--machine", "tpcore-test", "-E", f"existing:{sys.executable}",
                              "--set-commit-hash", commit, "--bench", f"^{BENCHMARK}"],
                             cwd=repo, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
    publish = subprocess.run([*asv, "publish"], cwd=repo, env=env, capture_output=True, text=True)
    assert publish.returncode == 0, publish.stdout + publish.stderr
    html = repo / ".asv" / "html"
    offline = subprocess.run([sys.executable, str(OFFLINE_SCRIPT), str(html)], capture_output=True, text=True)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    return html, commits


@pytest.fixture(scope="session")
def server(asv_pages):
    html, _ = asv_pages
    handler = functools.partial(_QuietHandler, directory=str(html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def browser():
    driver_path = _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    # no host resolves but the local server's: what the pages load from elsewhere fails, as offline
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


# The points flot drew for the main graph: one list of [x, y] per series, [] before it is drawn.
PLOTTED_POINTS = """
var plot = window.$ && $('#main-graph').data('plot');
if (!plot) { return []; }
return plot.getData().map(function (s) { return s.data.filter(function (p) { return p && p[1] !== null; }); });
"""


def test_graph_has_a_point_per_commit(asv_pages, server, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    _, commits = asv_pages
    browser.get(f"{server}/#{BENCHMARK}")
    series = WebDriverWait(browser, 60).until(
        lambda d: [s for s in d.execute_script(PLOTTED_POINTS) if s] or False,
        message=f"flot drew no series for {BENCHMARK}",
    )
    SCREENSHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))
    # quick profile: numpy, torch, jax x 4 variants x L in (1, 2) x batch 64, all measured
    assert len(series) >= 3, f"expected a series per selected parameter set, got {len(series)}"
    assert {len(s) for s in series} == {len(commits)}, f"points per series {[len(s) for s in series]}, commits {len(commits)}"
    assert all(y > 0 for s in series for _, y in s), "every plotted time must be positive"


def test_every_script_asv_names_is_vendored(tmp_path):
    """Fast, without a browser: asv's own index.html, vendored, names no external script and no
    missing or empty file (a newer asv with another URL fails here)."""
    import asv

    offline = _asv_offline()
    if offline.missing():
        pytest.skip(f"{', '.join(offline.missing())} not installed")
    html = tmp_path / "html"
    shutil.copytree(Path(asv.__file__).parent / "www", html)
    served = offline.vendor(html)
    text = (html / "index.html").read_text()
    assert not re.findall(r'<(?:script|link)\b[^>]*"https?://', text)
    assert len(served) == len(offline.ASSETS)
    assert all((html / path).stat().st_size > 1000 for path in served), served


# What index.html loaded: every script and stylesheet's address, and what the helpers defined.
LOADED = """
var tags = Array.from(document.querySelectorAll('script[src], link[rel=stylesheet]'));
return {urls: tags.map(function (t) { return t.src || t.href; }), md5: typeof window.md5,
        stupidtable: typeof $.fn.stupidtable, tooltip: typeof $.fn.tooltip,
        flot: $.plot.plugins.map(function (p) { return p.name; })};
"""


def test_the_published_pages_load_every_script_from_their_own_server(asv_pages, server, browser):
    """Offline, asv's CDN scripts left only "Can not determine continental origin of swallow"."""
    html, _ = asv_pages
    text = (html / "index.html").read_text()
    assert not re.findall(r'<(?:script|link)\b[^>]*"https?://', text), "a tag still loads from elsewhere"
    browser.get(f"{server}/")
    loaded = browser.execute_script(LOADED)
    assert "continental origin of swallow" not in browser.page_source
    assert loaded["urls"] and all(url.startswith(server) for url in loaded["urls"]), loaded["urls"]
    assert (loaded["md5"], loaded["stupidtable"], loaded["tooltip"]) == ("function",) * 3
    assert {"orderBars", "categories", "selection", "time"} <= set(loaded["flot"]), loaded["flot"]
