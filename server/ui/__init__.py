"""The review page in the browser, served by `mendb serve` under `/ui`.

Server-rendered HTML (Jinja2, autoescaped) and one small vendored script
(`static/ui.js`, keyboard shortcuts), shipped in the package: no build step, no CDN.
It uses the API's tokens and scopes through a session cookie (`session.py`), and
changes repairs through the same functions as the API, under the token's name.

`router` (prefix `/ui`) gathers the pages. Each page module has its own
`router = APIRouter()` with paths relative to `/ui`; the runs, rounds and figures
pages join when their modules are present in the package.
"""

from __future__ import annotations

import importlib

from fastapi import APIRouter

from mendb.server.ui import actions, auth, datasets, proposals

router = APIRouter(prefix="/ui", include_in_schema=False)
for _pages in (auth, datasets, proposals, actions):
    router.include_router(_pages.router)
router.add_api_route("", auth.home, methods=["GET"])  # /ui as well as /ui/

OPTIONAL_PAGES = ("runs", "rounds", "figures")
for _name in OPTIONAL_PAGES:
    _module_name = f"{__name__}.{_name}"
    try:
        _module = importlib.import_module(_module_name)
    except ModuleNotFoundError as missing:
        if missing.name != _module_name:
            raise  # the module exists and something it imports is missing
        continue  # a package built without that page serves the others
    router.include_router(_module.router)

__all__ = ["router"]
