"""``cmtlite studio``: a local web page to see a video's analysis and plan, shape them, and make and compare takes.

The server is FastAPI on uvicorn (a maintained ASGI stack: request parsing,
range requests for the player, and a test client); uploads are parsed as they
stream by python-multipart. It binds 127.0.0.1 unless told otherwise and
guards every ``/api/`` call four ways:

* **Host**: a ``Host`` other than 127.0.0.1, localhost, [::1] or the ``--host``
  given is refused (403), so a DNS-rebound name cannot reach the API;
* **Origin**: a state-changing request (POST, PUT, PATCH, DELETE) from another
  origin (its ``Origin``, or ``Sec-Fetch-Site: cross-site``) is refused (403);
* **token**: a random token per start, checked in constant time, from the
  ``Authorization: Bearer`` header (scheme in any case) or from the HttpOnly,
  SameSite=Strict cookie that opening ``/?token=...`` sets before redirecting
  to the clean URL; so no media or download URL carries it;
* **size**: a JSON body over ``MAX_JSON_BYTES`` and an upload over the
  store's limit are cut off while they stream (chunked ones too) with 413.

Errors are ``{"error": ...}`` with no server path in them; a client that goes
away mid-request is one log line. The page and its script are package files
(:mod:`cmtlite.studio.page`), served locally: nothing comes from a CDN.

API (the page uses it too)::

    GET    /api/info                               {"families", "keys", "max_upload_bytes"}
    POST   /api/projects                           {"video": path} or multipart "file"  -> 201 {"id"}
    GET    /api/projects                           [summary, ...]
    GET    /api/projects/{id}                      {"status", "controls", "takes", "error", "progress", ...}
    DELETE /api/projects/{id}                      -> 204
    PUT    /api/projects/{id}/controls             edited controls -> 200 {"controls"} (refitted / replanned), or 422
    GET    /api/projects/{id}/video                the video
    POST   /api/projects/{id}/takes                {"seed", "from_take"?, "bars"?: [first, last], "linked"?, ...} -> 202 {"id"}
    GET    /api/projects/{id}/takes/{take}         {"status", "name", "starred", "error", "progress", ...}
    PATCH  /api/projects/{id}/takes/{take}         {"name"?, "starred"?} -> 200
    DELETE /api/projects/{id}/takes/{take}         -> 204
    GET    /api/projects/{id}/takes/{take}/notes   {"families", "notes": [[family, pitch, start_s, duration_s], ...]}
    GET    /api/projects/{id}/takes/{take}/soundtrack.mp4 | soundtrack.mid | soundtrack.wav
    GET    /api/projects/{id}/takes/{take}/stems/{family}.wav
    GET    /api/projects/{id}/takes/{take}/mix/{family+family...}.wav
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from cmtlite.errors import CmtliteError, ConfigError
from cmtlite.studio.projects import NotFoundError, ProjectStore, TakeRequest, TooLargeError
from cmtlite.tokens.chords import MODES, key_label
from cmtlite.tokens.vocab import FAMILIES

PAGE_FILES = {"index.html": "text/html", "studio.js": "text/javascript", "studio.css": "text/css"}
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::")  # noqa: S104 - names, compared with --host
MAX_JSON_BYTES = 8 << 20  # a controls.json of an hour of video is about 3 MB
MULTIPART_SLACK_BYTES = 1 << 16  # the form's own bytes around the file
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
LOG = logging.getLogger("cmtlite.studio")


def default_workdir() -> Path:
    """Where projects live by default: ``$XDG_DATA_HOME/cmtlite/studio`` (``~/.local/share/cmtlite/studio``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cmtlite" / "studio"


def _page_file(name: str) -> bytes:
    return resources.files("cmtlite.studio.page").joinpath(name).read_bytes()


def allowed_hosts(host: str) -> tuple[str, ...]:
    """The ``Host`` names the server answers when it listens on ``host``: the local names, the host itself, and for a
    wildcard address this machine's name and addresses."""
    names = [*LOCAL_HOSTS, host]
    if host in WILDCARD_HOSTS:
        name = socket.gethostname()
        try:
            names += [name, socket.getfqdn(), *(info[4][0] for info in socket.getaddrinfo(name, None))]
        except OSError:
            names.append(name)
    return tuple(dict.fromkeys(n.lower() for n in names))


def _host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:8765`` -> ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def cookie_name(request: Request) -> str:
    """The token cookie of the studio on this port (cookies are not kept per port, names are)."""
    return f"cmtlite_studio_{request.url.port or 80}"


def create_app(store: ProjectStore, token: str, *, hosts: tuple[str, ...] = LOCAL_HOSTS) -> FastAPI:
    """The studio's ASGI app over ``store``: answers ``hosts`` only, and requires ``token`` on every ``/api/`` call."""

    def authorized(request: Request) -> bool:
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer":  # a script may still pass ?token= (the page itself uses the cookie: clean URLs)
            given = request.query_params.get("token") or request.cookies.get(cookie_name(request), "")
        return secrets.compare_digest(given.strip().encode(), token.encode())

    def require_token(request: Request) -> None:
        if not authorized(request):
            raise HTTPException(status_code=401, detail="missing or wrong token: open the page from the link `cmtlite studio` printed")

    app = FastAPI(title="cmtlite studio", docs_url=None, redoc_url=None, openapi_url=None)
    api = APIRouter(prefix="/api", dependencies=[Depends(require_token)])

    app.add_middleware(_Guard, hosts=hosts, store=store)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, err: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(err.detail)}, status_code=err.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": f"bad request: {err.errors()[:1]}"}, status_code=422)

    @app.exception_handler(CmtliteError)
    async def cmtlite_error(_: Request, err: CmtliteError) -> JSONResponse:
        status = 404 if isinstance(err, NotFoundError) else 413 if isinstance(err, TooLargeError) else 422
        return JSONResponse({"error": store.message(err)}, status_code=status)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, _: ClientDisconnect) -> Response:
        LOG.warning("client went away during %s %s", request.method, request.url.path)
        return Response(status_code=400)

    @app.get("/")
    def page(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None:
            if not secrets.compare_digest(given.encode(), token.encode()):
                raise HTTPException(status_code=401, detail="wrong token: open the link `cmtlite studio` printed")
            clean = RedirectResponse("/", status_code=303)
            clean.set_cookie(cookie_name(request), token, httponly=True, samesite="strict", path="/")
            return clean
        return Response(_page_file("index.html"), media_type="text/html", headers={"Cache-Control": "no-store"})

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in PAGE_FILES:
            raise HTTPException(status_code=404, detail="no such file")
        return Response(_page_file(name), media_type=PAGE_FILES[name])

    @api.get("/info")
    def info() -> dict:
        keys = [key_label(tonic, mode) for mode in MODES for tonic in range(12)]
        return {"families": list(FAMILIES), "keys": keys, "max_upload_bytes": store.max_upload_bytes}

    @api.post("/projects", status_code=201)
    async def create_project(request: Request) -> dict:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            return {"id": await _receive_upload(store, request)}
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("video"), str):
            msg = 'send {"video": "/path/on/this/machine.mp4"} or a multipart field "file"'
            raise ConfigError(msg)
        return {"id": await run_in_threadpool(store.create_from_path, Path(body["video"]))}

    @api.get("/projects")
    def list_projects() -> list:
        return store.list()

    @api.get("/projects/{project}")
    def get_project(project: str) -> dict:
        return store.get(project)

    @api.delete("/projects/{project}", status_code=204)
    def delete_project(project: str) -> Response:
        store.delete(project)
        return Response(status_code=204)

    @api.put("/projects/{project}/controls")
    async def put_controls(project: str, request: Request) -> dict:
        body = await _json(request)
        return {"controls": (await run_in_threadpool(store.put_controls, project, body)).to_json()}

    @api.get("/projects/{project}/video")
    def video(project: str) -> FileResponse:
        return FileResponse(store.video(project))

    @api.post("/projects/{project}/takes", status_code=202)
    async def create_take(project: str, request: Request) -> dict:
        take_request = TakeRequest.from_json(await _json(request))
        return {"id": await run_in_threadpool(store.create_take, project, take_request)}

    @api.get("/projects/{project}/takes/{take}")
    def get_take(project: str, take: str) -> dict:
        return store.take(project, take)

    @api.patch("/projects/{project}/takes/{take}")
    async def patch_take(project: str, take: str, request: Request) -> dict:
        return store.patch_take(project, take, await _json(request))

    @api.delete("/projects/{project}/takes/{take}", status_code=204)
    def delete_take(project: str, take: str) -> Response:
        store.delete_take(project, take)
        return Response(status_code=204)

    @api.get("/projects/{project}/takes/{take}/notes")
    def notes(project: str, take: str) -> dict:
        return store.notes(project, take)

    @api.get("/projects/{project}/takes/{take}/stems/{family}.wav")
    def stem(project: str, take: str, family: str) -> FileResponse:
        return FileResponse(store.stem(project, take, family), filename=f"{family}.wav")

    @api.get("/projects/{project}/takes/{take}/mix/{families}.wav")
    def mix(project: str, take: str, families: str) -> FileResponse:
        return FileResponse(store.family_mix(project, take, families), media_type="audio/wav")

    @api.get("/projects/{project}/takes/{take}/{name}")
    def take_file(project: str, take: str, name: str) -> FileResponse:
        return FileResponse(store.take_file(project, take, name), filename=name)

    app.include_router(api)
    return app


class _Guard:
    """ASGI middleware: the Host and Origin checks (module doc), and one log line, not a traceback, for an error or a client
    that went away (an unexpected error is a 500 ``{"error"}`` naming no path)."""

    def __init__(self, app: Callable[..., Awaitable[None]], *, hosts: tuple[str, ...], store: ProjectStore) -> None:
        self.app, self.hosts, self.store = app, hosts, store

    async def __call__(self, scope: dict, receive: Callable[..., Awaitable[dict]], send: Callable[..., Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        refusal = None
        if _host_name(host) not in self.hosts:
            refusal = "forbidden host: open the studio by the address it printed"
        elif scope["method"] in STATE_CHANGING:
            origin = headers.get("origin")
            own = {f"http://{host.lower()}", f"https://{host.lower()}"}
            if (origin is not None and origin.lower() not in own) or headers.get("sec-fetch-site") == "cross-site":
                refusal = "forbidden origin: state changes come from the studio's own page only"
        if refusal is not None:
            await JSONResponse({"error": refusal}, status_code=403)(scope, receive, send)
            return
        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except (ClientDisconnect, ConnectionError) as err:
            LOG.warning("client went away during %s %s (%s)", scope["method"], scope["path"], err.__class__.__name__)
        except Exception as err:  # noqa: BLE001 - one line in the log, a JSON error to the client
            LOG.error("%s %s: %s", scope["method"], scope["path"], self.store.message(err))
            if not started:
                body = {"error": f"internal error ({err.__class__.__name__}); the server's log has more"}
                await JSONResponse(body, status_code=500)(scope, receive, send)


def _declared_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


async def _json(request: Request) -> Any:  # noqa: ANN401 - any JSON value
    """The request's JSON body, read while counting: over ``MAX_JSON_BYTES`` is a :class:`TooLargeError`."""
    too_large = f"the JSON body is over the limit of {MAX_JSON_BYTES} bytes"
    if (_declared_length(request) or 0) > MAX_JSON_BYTES:
        raise TooLargeError(too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise TooLargeError(too_large)
    try:
        return json.loads(bytes(body) or b"null")
    except (ValueError, UnicodeDecodeError) as err:
        msg = f"the body is not JSON ({err})"
        raise ConfigError(msg) from err


class _UploadReceiver:
    """python-multipart callbacks that write the form's ``file`` part into a reserved project as it arrives."""

    def __init__(self, store: ProjectStore) -> None:
        self.store, self.headers, self.field, self.value = store, {}, b"", b""
        self.project: str | None = None
        self.video: Path | None = None
        self.filename, self.size, self.handle, self.writing = "", 0, None, False

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {"on_part_begin": self.part_begin, "on_header_field": self.header_field, "on_header_value": self.header_value,
                "on_header_end": self.header_end, "on_headers_finished": self.headers_finished, "on_part_data": self.part_data,
                "on_part_end": self.part_end}

    def part_begin(self) -> None:
        self.headers, self.writing = {}, False

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.field.lower()] = self.value
        self.field, self.value = b"", b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if options.get(b"name") == b"file" and self.project is None:
            self.filename = Path(options.get(b"filename", b"upload.bin").decode("utf-8", "replace")).name or "upload.bin"
            self.project, self.video = self.store.reserve(self.filename)
            self.handle, self.writing = self.video.with_name(self.video.name + ".part").open("wb"), True

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.writing:
            self.size += end - start
            if self.size > self.store.max_upload_bytes:
                msg = f"upload is over the limit of {self.store.max_upload_bytes} bytes"
                raise TooLargeError(msg)
            self.handle.write(data[start:end])

    def part_end(self) -> None:
        if self.writing:
            self.handle.close()
            self.writing = False


async def _receive_upload(store: ProjectStore, request: Request) -> str:
    """Stream a multipart upload's ``file`` into a new project, counting bytes as they come; returns its id.

    Raises
    ------
    TooLargeError
        The declared or the streamed size is over the store's limit (nothing is kept).
    ConfigError
        Not a multipart form with a ``file`` field.
    """
    limit = store.max_upload_bytes + MULTIPART_SLACK_BYTES
    too_large = f"upload is over the limit of {store.max_upload_bytes} bytes"
    if (_declared_length(request) or 0) > limit:
        raise TooLargeError(too_large)
    _, options = parse_options_header(request.headers.get("content-type", ""))
    if not options.get(b"boundary"):
        msg = "a multipart upload needs a boundary"
        raise ConfigError(msg)
    receiver = _UploadReceiver(store)
    parser = MultipartParser(options[b"boundary"], receiver.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise TooLargeError(too_large)
            parser.write(chunk)
            await asyncio.sleep(0)  # let other requests in between chunks
        parser.finalize()
        if receiver.project is None or receiver.writing:
            msg = "a multipart upload needs a complete 'file' field"
            raise ConfigError(msg)
        receiver.video.with_name(receiver.video.name + ".part").replace(receiver.video)
    except BaseException:
        if receiver.handle is not None:
            receiver.handle.close()
        if receiver.project is not None:
            store.discard(receiver.project)
        raise
    store.finish_upload(receiver.project, receiver.filename, receiver.video)
    return receiver.project


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
    shown = "127.0.0.1" if host in WILDCARD_HOSTS else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/?token={token}"
    logging.basicConfig(format="%(levelname)s: %(message)s")
    config = uvicorn.Config(create_app(store, token, hosts=allowed_hosts(host)), host=host, port=port, log_level="warning",
                            lifespan="off")
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


@contextmanager
def running(app: FastAPI, *, host: str = "127.0.0.1", timeout_s: float = 20.0) -> Iterator[int]:
    """Serve ``app`` on a free port of ``host`` from a background thread until the block ends (tests, benchmarks,
    scripts); yields the port."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="cmtlite-studio-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            msg = f"the studio server did not start on {host}"
            raise ConfigError(msg)
        time.sleep(0.05)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port something else listens on, before the model is loaded."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            msg = f"cannot listen on {host}:{port} ({err.strerror or err}): choose another --port or --host"
            raise ConfigError(msg) from err


def _run(server: Any, started: Any) -> None:  # noqa: ANN401
    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            await started()
        await task

    asyncio.run(main())
