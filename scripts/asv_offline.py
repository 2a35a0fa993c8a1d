"""Make published asv pages work without internet: `python scripts/asv_offline.py [HTML_DIR]`.

asv's index.html loads jQuery, flot, bootstrap and three small helpers from CDNs; offline, the page
shows only "Can not determine continental origin of swallow". After `asv publish` this copies each
of them into HTML_DIR/vendor/ (default .asv/html) and points the page's tags there. The copies
come from Debian's packages (scripts/setup.sh installs them: jQuery 3.6 and bootstrap 3.4 where asv
names 3.3.1 and 3.1.1), and flot 0.8.3 with its orderBars plugin from the npm registry (`npm pack`
once, kept in .cache/asv-offline/): Debian's flot is version 4, which asv's graphs do not draw
right. The CDNs' integrity hashes are those of their own builds, so they are dropped. A URL not in
:data:`ASSETS` (a newer asv) is an error, never a page that fails only offline.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
DEBIAN = Path("/usr/share/javascript")
NPM_CACHE = ROOT / ".cache" / "asv-offline"


class Asset(NamedTuple):
    package: str  # the Debian package that installs it, or "npm:name@version"
    path: str  # under /usr/share/javascript, or inside the npm package
    target: str  # under the published vendor/


CDNJS = "https://cdnjs.cloudflare.com/ajax/libs"
JSDELIVR = "https://cdn.jsdelivr.net/npm"
#: every external URL asv 0.6's index.html loads, and its local copy
ASSETS = {
    "https://code.jquery.com/jquery-3.3.1.min.js": Asset("libjs-jquery", "jquery/jquery.min.js", "jquery.min.js"),
    # flot from npm at the version asv names: Debian ships flot 4, on whose legend and axis labels
    # asv's graphs draw a black box and a second label
    **{f"{CDNJS}/flot/0.8.3/jquery.flot{name}.min.js": Asset("npm:flot@0.8.3", f"jquery.flot{name}.js",
                                                             f"flot/jquery.flot{name}.js")
       for name in ("", ".time", ".selection", ".categories")},
    f"{JSDELIVR}/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": Asset(
        "npm:flot-orderbars@1.0.0", "js/jquery.flot.orderBars.js", "flot/jquery.flot.orderBars.js"),
    f"{CDNJS}/stupidtable/1.0.1/stupidtable.min.js": Asset("libjs-jquery-stupidtable",
                                                           "jquery-stupidtable/stupidtable.min.js", "stupidtable.min.js"),
    f"{CDNJS}/blueimp-md5/2.19.0/js/md5.min.js": Asset("node-blueimp-md5", "blueimp-md5/md5.min.js", "md5.min.js"),
    f"{JSDELIVR}/bootstrap@3.1.1/dist/js/bootstrap.min.js": Asset("libjs-bootstrap", "bootstrap/js/bootstrap.min.js",
                                                                  "bootstrap/js/bootstrap.min.js"),
    f"{JSDELIVR}/bootstrap@3.1.1/dist/css/bootstrap.min.css": Asset("libjs-bootstrap", "bootstrap/css/bootstrap.min.css",
                                                                    "bootstrap/css/bootstrap.min.css"),
}
#: folders an asset refers to by a relative path: bootstrap's css finds its glyph fonts at ../fonts/
FOLDERS = {"bootstrap/css/bootstrap.min.css": ("bootstrap/fonts", "bootstrap/fonts")}
#: a script or stylesheet tag with an external URL (links to asv's home page stay as they are)
TAG = re.compile(r'<(script|link)\b[^>]*?\b(?:src|href)="(https?://[^"]+)"[^>]*>')
#: the attributes that bind a tag to the CDN's own build
CDN_ATTRIBUTES = re.compile(r'\s(?:integrity|crossorigin|referrerpolicy)="[^"]*"')


def missing() -> list[str]:
    """What is not installed to vendor every asset: Debian packages, or "npm" ([] when all is there)."""
    found = []
    for asset in ASSETS.values():
        if asset.package.startswith("npm:"):
            lacking = _npm_file(asset, fetch=False) is None and shutil.which("npm") is None
            name = "npm"
        else:
            lacking, name = not (DEBIAN / asset.path).is_file(), asset.package
        if lacking and name not in found:
            found.append(name)
    return found


def vendor(html: Path) -> list[str]:
    """Copy every asset into ``html/vendor`` and point the pages' tags there; returns the local paths."""
    if not (html / "index.html").is_file():
        raise SystemExit(f"asv_offline: {html} has no index.html; run `asv publish` first")
    absent = missing()
    if absent:
        raise SystemExit(f"asv_offline: {', '.join(absent)} not installed (apt-get install -y {' '.join(absent)}; "
                         "scripts/setup.sh does this as root)")
    served = set()
    for page in sorted(html.glob("*.html")):
        text = page.read_text()
        rewritten = TAG.sub(lambda m: _local(m, html), text)
        if rewritten != text:
            page.write_text(rewritten)
        served |= set(re.findall(r'(?:src|href)="(vendor/[^"]+)"', rewritten))
    return sorted(served)


def _local(match: re.Match, html: Path) -> str:
    url = match.group(2)
    if url not in ASSETS:
        raise SystemExit(f"asv_offline: a page loads {url}, which scripts/asv_offline.py does not know; add it to ASSETS")
    asset = ASSETS[url]
    dest = html / "vendor" / asset.target
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_npm_file(asset) if asset.package.startswith("npm:") else DEBIAN / asset.path, dest)
    if asset.target in FOLDERS:
        source, target = FOLDERS[asset.target]
        shutil.copytree(DEBIAN / source, html / "vendor" / target, dirs_exist_ok=True)
    return CDN_ATTRIBUTES.sub("", match.group(0)).replace(url, f"vendor/{asset.target}")


def _npm_file(asset: Asset, fetch: bool = True) -> Path | None:
    """The asset's file from its npm package, packed once into :data:`NPM_CACHE` with every other
    file :data:`ASSETS` takes from that package (None: not there, and not fetched)."""
    spec = asset.package.removeprefix("npm:")
    path = NPM_CACHE / spec / "package" / asset.path
    if path.is_file() or not fetch:
        return path if path.is_file() else None
    with tempfile.TemporaryDirectory() as tmp:
        packed = subprocess.run(["npm", "pack", "--silent", spec], cwd=tmp, capture_output=True, text=True)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if packed.returncode != 0 or not tarballs:
            raise SystemExit(f"asv_offline: npm pack {spec} failed: {(packed.stderr or packed.stdout).strip()}")
        with tarfile.open(tarballs[0]) as tar:
            for other in ASSETS.values():
                if other.package == asset.package:
                    tar.extract(f"package/{other.path}", NPM_CACHE / spec, filter="data")
    return path


def main(argv: list[str]) -> int:
    if any(a.startswith("-") for a in argv) or len(argv) > 1:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 0 if argv in (["-h"], ["--help"]) else 2
    html = Path(argv[0] if argv else ROOT / ".asv" / "html")
    served = vendor(html)
    print(f"asv_offline: {html} loads its {len(served)} scripts and stylesheets from {html / 'vendor'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
