"""``cmtlite studio``: a local web page to see a video's analysis, shape its controls, and make and compare takes.

The server is FastAPI on uvicorn (a maintained ASGI stack: request parsing,
multipart uploads, range requests for the player, and a test client). It
binds 127.0.0.1 unless told otherwise, makes a random token per start and
checks it in constant time on every ``/api/`` call (``Authorization: Bearer``
or ``?token=``), and serves only files it finds inside its work folder by ids
it chose itself (see :mod:`cmtlite.studio.projects`). The page and its script are
package files, served locally: nothing comes from a CDN.

API (the page uses it too)::

    POST /api/projects                      {"video": path} or multipart "file"   -> 201 {"id"}
    GET  /api/projects                      [summary, ...]
    GET  /api/projects/{id}                 {"status", "controls", "takes", "error", "progress", ...}
    PUT  /api/projects/{id}/controls        edited controls                       -> 200, or 422 {"error"}
    GET  /api/projects/{id}/video           the video
    POST /api/projects/{id}/takes           {"seed", "from_take"?, "bars"?: [first, last], ...} -> 202 {"id"}
    GET  /api/projects/{id}/takes/{take}    {"status", "error", "progress", ...}
    GET  /api/projects/{id}/takes/{take}/soundtrack.mp4 | soundtrack.mid | soundtrack.wav
    GET  /api/projects/{id}/takes/{take}/stems/{family}.wav
"""

from __future__ import annotations

import os
import secrets
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from cmtlite.errors import CmtliteError, ConfigError
from cmtlite.studio.projects import NotFoundError, ProjectStore, TakeRequest, TooLargeError

PAGE_FILES = {"index.html": "text/html", "studio.js": "text/javascript", "studio.css": "text/css"}
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def default_workdir() -> Path:
    """Where projects live by default: ``$XDG_DATA_HOME/cmtlite/studio`` (``~/.local/share/cmtlite/studio``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cmtlite" / "studio"


def _page_file(name: str) -> bytes:
    return resources.files("cmtlite.studio").joinpath("page", name).read_bytes()


def create_app(store: ProjectStore, token: str) -> FastAPI:
    """The studio's ASGI app over ``store``, requiring ``token`` on every ``/api/`` call."""

    def require_token(request: Request) -> None:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or request.query_params.get("token", "")
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(status_code=401, detail="missing or wrong token")

    app = FastAPI(title="cmtlite studio", docs_url=None, redoc_url=None, openapi_url=None)
    api = APIRouter(prefix="/api", dependencies=[Depends(require_token)])

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, err: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(err.detail)}, status_code=err.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": f"bad request: {err.errors()[:1]}"}, status_code=422)

    @app.exception_handler(CmtliteError)
    async def cmtlite_error(_: Request, err: CmtliteError) -> JSONResponse:
        status = 404 if isinstance(err, NotFoundError) else 413 if isinstance(err, TooLargeError) else 422
        return JSONResponse({"error": " ".join(str(err).split())}, status_code=status)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, err: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error: {err.__class__.__name__}: {err}"}, status_code=500)

    @app.get("/")
    def page() -> Response:
        return Response(_page_file("index.html"), media_type="text/html")

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in PAGE_FILES:
            raise HTTPException(status_code=404, detail="no such file")
        return Response(_page_file(name), media_type=PAGE_FILES[name])

    @api.post("/projects", status_code=201)
    async def create_project(request: Request) -> dict:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            length = int(request.headers.get("content-length") or 0)
            if length > store.max_upload_bytes + (1 << 16):
                msg = f"upload is over the limit of {store.max_upload_bytes} bytes"
                raise TooLargeError(msg)
            form = await request.form(max_files=1, max_fields=4)
            upload = form.get("file")
            if upload is None or not hasattr(upload, "file"):
                msg = "a multipart upload needs a 'file' field"
                raise ConfigError(msg)
            return {"id": store.create_from_upload(upload.file, upload.filename or "upload.bin")}
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("video"), str):
            msg = 'send {"video": "/path/on/this/machine.mp4"} or a multipart field "file"'
            raise ConfigError(msg)
        return {"id": store.create_from_path(Path(body["video"]))}

    @api.get("/projects")
    def list_projects() -> list:
        return store.list()

    @api.get("/projects/{project}")
    def get_project(project: str) -> dict:
        return store.get(project)

    @api.put("/projects/{project}/controls")
    async def put_controls(project: str, request: Request) -> dict:
        return {"controls": store.put_controls(project, await _json(request)).to_json()}

    @api.get("/projects/{project}/video")
    def video(project: str) -> FileResponse:
        return FileResponse(store.video(project))

    @api.post("/projects/{project}/takes", status_code=202)
    async def create_take(project: str, request: Request) -> dict:
        return {"id": store.create_take(project, TakeRequest.from_json(await _json(request)))}

    @api.get("/projects/{project}/takes/{take}")
    def get_take(project: str, take: str) -> dict:
        return store.take(project, take)

    @api.get("/projects/{project}/takes/{take}/stems/{family}.wav")
    def stem(project: str, take: str, family: str) -> FileResponse:
        return FileResponse(store.stem(project, take, family), filename=f"{family}.wav")

    @api.get("/projects/{project}/takes/{take}/{name}")
    def take_file(project: str, take: str, name: str) -> FileResponse:
        return FileResponse(store.take_file(project, take, name), filename=name)

    app.include_router(api)
    return app


async def _json(request: Request) -> Any:  # noqa: ANN401 - any JSON value
    import json

    try:
        return json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError) as err:
        msg = f"the body is not JSON ({err})"
        raise ConfigError(msg) from err


def serve(
    videos: list[Path],
    *,
    model_path: Path,
    device: str = "auto",
    soundfont: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    workdir: Path | None = None,
    open_browser: bool = True,
    max_upload_bytes: int | None = None,
    on_ready: Any = None,  # noqa: ANN401 - called with the page's URL once the server listens
) -> None:
    """Run the studio until Ctrl-C: load the model once, add ``videos`` as projects, print the URL and serve.

    Raises
    ------
    ConfigError
        A bad model, soundfont, video path or work folder.
    """
    import uvicorn

    from cmtlite.audio.render import resolve_soundfont
    from cmtlite.model import load_model, resolve_device

    workdir = Path(workdir) if workdir is not None else default_workdir()
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=workdir).close()
    except OSError as err:
        msg = f"{workdir}: cannot use it as the studio's work folder ({err.strerror or err})"
        raise ConfigError(msg) from err
    _check_port_free(host, port)
    model, _ = load_model(model_path, resolve_device(device))
    options = {"max_upload_bytes": max_upload_bytes} if max_upload_bytes else {}
    store = ProjectStore(workdir, model=model, soundfont=resolve_soundfont(soundfont), **options)
    for video in videos:
        store.create_from_path(video)
    token = secrets.token_urlsafe(24)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/?token={token}"
    config = uvicorn.Config(create_app(store, token), host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    callback = on_ready or (lambda page_url: None)

    async def started() -> None:
        callback(url)
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    try:
        _run(server, started)
    finally:
        store.close()


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port something else listens on, before the model is loaded."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            msg = f"cannot listen on {host}:{port} ({err.strerror or err}): choose another --port or --host"
            raise ConfigError(msg) from err


def _run(server: Any, started: Any) -> None:  # noqa: ANN401
    import asyncio

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            await started()
        await task

    asyncio.run(main())
