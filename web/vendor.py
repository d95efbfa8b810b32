"""Browser libraries from npm (`package.json`, installed into node_modules/ by `make setup`).

three.js's add-ons import the bare name 'three', which a browser resolves only through an
import map, and an import map is an inline script our CSP (`script-src 'self'`) refuses.
So the modules are served from node_modules with that one name rewritten to the URL of
three's own module: the browser then loads one copy of three for the page and its add-ons.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from flask import Response, current_app, url_for

from web.errors import ApiError

# Resolved: a node_modules that is a link to a shared install serves as a folder would.
NODE_MODULES = (Path(__file__).resolve().parent.parent / "node_modules").resolve()
SERVED = ("three/build/", "three/examples/jsm/")  # only what the pages import
BARE_THREE = re.compile(r"""(from\s*|import\s*\(?\s*)(['"])three(/addons/)?""")


@cache
def _module_text(path: str, three_url: str, addons_url: str) -> bytes:
    source = (NODE_MODULES / path).read_text()

    def resolve(match: re.Match) -> str:
        target = addons_url if match.group(3) else three_url
        return f"{match.group(1)}{match.group(2)}{target}"

    return BARE_THREE.sub(resolve, source).encode()


def vendor_module(path: str) -> Response:
    """The ES module at node_modules/`path`, with bare 'three' imports made URLs."""
    file = (NODE_MODULES / path).resolve()
    if (
        not path.endswith(".js")
        or not path.startswith(SERVED)
        or not file.is_relative_to(NODE_MODULES)
        or not file.is_file()
    ):
        raise ApiError(404, "NOT_FOUND", "No such browser module (run `make setup`).")
    body = _module_text(
        path,
        url_for("portal.vendor", path="three/build/three.module.js"),
        url_for("portal.vendor", path="three/examples/jsm/"),
    )
    cache_for = 0 if current_app.debug else 86400
    return Response(
        body,
        mimetype="text/javascript",
        headers={"Cache-Control": f"public, max-age={cache_for}"},
    )
