"""`/docs`: the JSON API's Swagger UI, served from this machine under the site's CSP and login.

FastAPI's own docs page loads Swagger UI from a CDN and starts it with an inline
script; both are refused by the CSP (and there may be no network). Here the assets
come from the `swagger-ui-py` package (Swagger UI 5, which reads OpenAPI 3.1), under
`/docs/assets/`, and the start-up script is `/static/docs-init.js`, so the page needs
nothing but this origin. The
login gate covers `/docs` like every other page.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from markupsafe import escape

from tracker.web.security import csrf_token

router = APIRouter(include_in_schema=False)

ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}


def assets_dir() -> Path | None:
    """Where the installed Swagger UI files are, or None when the package is missing.

    The package is found without importing it (its code is for other frameworks).
    """
    spec = importlib.util.find_spec("swagger_ui")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "static"
        if (path / "swagger-ui-bundle.js").is_file():
            return path
    return None


PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>JSON API · social tracker</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="stylesheet" href="/static/docs.css">
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head>
<body>
  <p class="docs-back"><a href="/">← back to the tracker</a></p>
  <div id="swagger-ui" data-spec="/openapi.json" data-csrf="{csrf}"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/static/docs-init.js"></script>
</body>
</html>
"""

MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>JSON API</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body><main><h1>JSON API</h1>
<p>The interactive documentation needs the <code>swagger-ui-py</code> package, which is not
installed here (reinstall the tracker). The API's description is at
<a href="/openapi.json">/openapi.json</a>.</p></main></body></html>
"""


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    if assets_dir() is None:
        return HTMLResponse(MISSING, 503)
    token = str(escape(csrf_token(request.session)))
    return HTMLResponse(PAGE.replace("{csrf}", token))


@router.get("/docs/assets/{name}")
def asset(name: str) -> FileResponse:
    folder = assets_dir()
    if name not in ASSETS or folder is None:
        raise HTTPException(404)
    return FileResponse(folder / name, media_type=ASSETS[name], headers={"Cache-Control": "max-age=86400"})
