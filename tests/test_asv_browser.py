"""The asv history pages render in headless Chromium with a data point for every benchmarked commit.

The fixture builds a throwaway git repository from the working tree (the tree as one commit, then
two more), runs the quick asv profile of one benchmark for each commit against this .venv
(``-E existing``: the commits differ only in their hash, which is all the pages need), publishes
the pages and serves them over HTTP (asv's pages load their data with XHR, so file:// would not do).
The test reads the points flot plotted and saves a screenshot to test-output/asv_graph.png.

asv's index.html loads jQuery, flot, bootstrap and two small helpers from CDNs; so that the test
runs offline, the fixture points those tags at Debian's packaged copies (:data:`OFFLINE_ASSETS`)
and stubs the two the graph page does not use.

Needs chromium and chromedriver (Debian: ``apt-get install -y chromium chromium-driver``), the
script packages of :data:`OFFLINE_ASSETS` and selenium (the ``bench`` extra). Without them the test
fails under CI (``CI=true``) and skips elsewhere.
"""

from __future__ import annotations

import functools
import http.server
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
DEBIAN_JS = Path("/usr/share/javascript")
#: CDN file asv's index.html names -> a local copy (Debian libjs-* packages) or a stub's JS text
OFFLINE_ASSETS = {
    "jquery-3.3.1.min.js": DEBIAN_JS / "jquery/jquery.min.js",
    "jquery.flot.min.js": DEBIAN_JS / "jquery-flot/jquery.flot.pack.js",
    "jquery.flot.time.min.js": DEBIAN_JS / "jquery-flot/jquery.flot.time.js",
    "jquery.flot.selection.min.js": DEBIAN_JS / "jquery-flot/jquery.flot.selection.js",
    "jquery.flot.categories.min.js": DEBIAN_JS / "jquery-flot/jquery.flot.categories.js",
    "stupidtable.min.js": DEBIAN_JS / "jquery-stupidtable/stupidtable.min.js",
    "bootstrap.min.js": DEBIAN_JS / "bootstrap/js/bootstrap.min.js",
    "bootstrap.min.css": DEBIAN_JS / "bootstrap/css/bootstrap.min.css",
    # bar ordering and md5 (regressions page) are not used by the graph page
    "jquery.flot.orderBars.js": "",
    "md5.min.js": "window.md5 = function (text) { return String(text); };",
}
APT_PACKAGES = "chromium chromium-driver libjs-jquery libjs-jquery-flot libjs-bootstrap libjs-jquery-stupidtable"
INSTALL_HINT = f"install them with apt-get install -y {APT_PACKAGES} and pip install selenium"


def _require_browser() -> str:
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    missing += [str(path) for path in OFFLINE_ASSETS.values() if isinstance(path, Path) and not path.is_file()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if missing:
        message = f"{', '.join(missing)} not found; {INSTALL_HINT}"
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
    _use_offline_assets(html)
    return html, commits


def _use_offline_assets(html: Path) -> None:
    """Point index.html's CDN tags at local copies (integrity hashes dropped: other builds)."""
    vendor = html / "vendor"
    vendor.mkdir()

    def local(match: re.Match) -> str:
        name = match.group(2).rsplit("/", 1)[-1]
        source = OFFLINE_ASSETS.get(name)
        if source is None:
            raise AssertionError(f"asv's index.html loads {match.group(2)}, which OFFLINE_ASSETS does not map")
        if isinstance(source, Path) and source.is_file():
            shutil.copy(source, vendor / name)
        else:
            (vendor / name).write_text(source if isinstance(source, str) else "")
        return f'{match.group(1)}="vendor/{name}"'

    index = html / "index.html"
    text = re.sub(r'\s(integrity|crossorigin|referrerpolicy)="[^"]*"', "", index.read_text())
    index.write_text(re.sub(r'(src|href)="(https://[^"]+\.(?:js|css))"', local, text))


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
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
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
