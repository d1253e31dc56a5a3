"""The records service on the web: a JSON API (OpenAPI at /api/openapi.json) and server-rendered pages.

FastAPI serves both; Jinja2 renders the pages (no script on them, so the Content-Security-Policy allows none).
A session is an HttpOnly, SameSite=Strict cookie (Secure unless ``records.secure_cookies`` is off); every request
that changes something carries the session's CSRF token, in the ``X-CSRF-Token`` header (API) or a hidden form
field (pages). Refusals are one clear line: ``{"error": "..."}`` with a 4xx status, never a stack trace.
"""

# No `from __future__ import annotations` here: FastAPI reads the route annotations at definition time, and the
# Who/PageWho aliases are local to create_app.
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from edge_agent import __version__
from edge_agent.city.records import alerts as hot
from edge_agent.city.records import transparency
from edge_agent.city.records.accounts import Principal
from edge_agent.city.records.service import RecordsError, RecordsService, SearchRequest, Warrant
from edge_agent.compat import UTC

logger = logging.getLogger(__name__)

COOKIE = "records_session"
TEMPLATES = Path(__file__).with_name("templates")
_templates = Jinja2Templates(directory=str(TEMPLATES))


class LoginBody(BaseModel):
    """Password and TOTP code: both, always."""

    username: str = Field(max_length=64)
    password: str = Field(max_length=256)
    code: str = Field(max_length=8, description="The 6-digit TOTP code of the user's authenticator.")


class WarrantBody(BaseModel):
    """A warrant or court order, required of out-of-state and federal agencies."""

    number: str = Field(max_length=64)
    court: str = Field(max_length=200)
    date: str = Field(max_length=10, description="YYYY-MM-DD")
    document_sha256: str = Field(max_length=64, description="SHA-256 of the signed document")


class SearchBody(BaseModel):
    """A search: a plate (exact, or with * and ?), always under a case number, a purpose and a reason."""

    case_number: str = Field(max_length=64)
    purpose: str = Field(max_length=80)
    reason: str = Field(max_length=500)
    plate: str = Field(max_length=32, description="A-Z0-9; * any run of characters, ? one character.")
    start: datetime | None = None
    end: datetime | None = None
    cameras: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=100)
    limit: int = Field(100, ge=1, le=10_000)
    warrant: WarrantBody | None = None

    def request(self) -> SearchRequest:
        """The service's form of the search."""
        data = self.model_dump(exclude={"warrant"})
        warrant = Warrant(**self.warrant.model_dump()) if self.warrant else None
        return SearchRequest(**data, warrant=warrant)


class HotlistBody(BaseModel):
    """A hotlist as CSV text: plate, reason, source_agency, entered_by, expires[, tolerance]."""

    csv: str = Field(max_length=20_000_000)


class VerdictBody(BaseModel):
    """A person's verdict on a hotlist alert."""

    verdict: str = Field(max_length=16, description="confirm or dismiss")
    reason: str = Field("", max_length=200)


class HoldBody(BaseModel):
    """A legal hold: reads (as search results name them) kept under a case until released."""

    case_number: str = Field(max_length=64)
    reason: str = Field(max_length=500)
    reads: list[Annotated[str, Field(max_length=128)]] = Field(min_length=1, max_length=1000)


class NoteBody(BaseModel):
    """A note (for a release)."""

    note: str = Field("", max_length=500)


class ReviewBody(BaseModel):
    """A supervisor's verdict on a search."""

    verdict: str = Field(max_length=16, description="approved or flagged")
    note: str = Field(max_length=500)


def create_app(service: RecordsService) -> FastAPI:  # noqa: PLR0915 - the routes, one after the other
    """The web application over a records service."""
    app = FastAPI(
        title="edge-agent records",
        version=__version__,
        description="Plate reads kept by policy: case-number searches, legal holds, an audit trail.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    secure = service.cfg.secure_cookies

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.exception_handler(RecordsError)
    async def refused(request: Request, exc: RecordsError) -> Response:
        if _wants_html(request):
            principal = getattr(request.state, "principal", None)
            return _page(request, "error.html", principal, {"message": exc.message}, status=exc.status)
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid request"))
        return JSONResponse({"error": message}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    def principal(request: Request) -> Principal:
        token = request.cookies.get(COOKIE, "")
        who = service.who(token) if token else None
        if who is None:
            raise RecordsError(401, "sign in first")
        request.state.principal = who
        if request.method not in ("GET", "HEAD"):
            sent = request.headers.get("x-csrf-token") or getattr(request.state, "form_csrf", None)
            if sent != who.csrf_token:
                raise RecordsError(403, "missing or wrong CSRF token")
        return who

    async def form_csrf(request: Request) -> None:
        if request.method == "POST" and "form" in request.headers.get("content-type", ""):
            form = await request.form()
            request.state.form_csrf = form.get("csrf_token")

    def page_principal(request: Request, _: None = Depends(form_csrf)) -> Principal:
        try:
            return principal(request)
        except RecordsError as exc:
            if exc.status == 401:
                raise _ToLogin() from None
            raise

    @app.exception_handler(_ToLogin)
    async def to_login(request: Request, exc: _ToLogin) -> Response:
        return RedirectResponse("/login", status_code=303)

    Who = Annotated[Principal, Depends(principal)]  # noqa: N806 - a type alias
    PageWho = Annotated[Principal, Depends(page_principal)]  # noqa: N806 - a type alias

    # --- API ----------------------------------------------------------------------------------------------------

    @app.post("/api/login", tags=["session"])
    def api_login(body: LoginBody, request: Request) -> JSONResponse:
        token, who = service.login(body.username, body.password, body.code, _client(request))
        response = JSONResponse({"user": who.username, "role": who.role, "csrf_token": who.csrf_token})
        _set_cookie(response, token, service, secure)
        return response

    @app.post("/api/logout", tags=["session"])
    def api_logout(request: Request, who: Who) -> JSONResponse:
        service.logout(request.cookies.get(COOKIE, ""), who)
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.post("/api/search", tags=["search"])
    def api_search(body: SearchBody, who: Who) -> dict[str, Any]:
        search_id, hits = service.search(who, body.request())
        return {"search_id": search_id, "results": [h.as_dict() for h in hits]}

    @app.post("/api/search/export", tags=["search"], response_class=PlainTextResponse)
    def api_search_export(body: SearchBody, who: Who) -> Response:
        text = service.export_results(who, body.request())
        return Response(
            text, media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="reads.csv"'}
        )

    @app.get("/api/hotlist", tags=["hotlist"])
    def api_hotlist(who: Who) -> list[dict[str, Any]]:
        return [_jsonable(e) for e in hot.entries(service, who)]

    @app.post("/api/hotlist", tags=["hotlist"])
    def api_hotlist_import(body: HotlistBody, who: Who) -> dict[str, int]:
        service.require(who, ("supervisor",), "change the hotlist")
        return hot.import_hotlist(service, who.username, who.role, body.csv)

    @app.post("/api/hotlist/{entry_id}/remove", tags=["hotlist"])
    def api_hotlist_remove(entry_id: int, body: NoteBody, who: Who) -> dict[str, bool]:
        hot.remove_entry(service, who, entry_id, body.note)
        return {"removed": True}

    @app.get("/api/alerts", tags=["hotlist"])
    def api_alerts(who: Who, state: Annotated[str, Query(max_length=16)] = "pending") -> list[dict[str, Any]]:
        return hot.alerts(service, who, state)

    @app.get("/api/alerts/{alert_id}/crop", tags=["hotlist"], response_class=Response)
    def api_alert_crop(alert_id: int, who: Who) -> Response:
        return Response(hot.alert_crop(service, who, alert_id), media_type="image/jpeg")

    @app.post("/api/alerts/{alert_id}", tags=["hotlist"])
    def api_alert_decide(alert_id: int, body: VerdictBody, who: Who) -> dict[str, bool]:
        hot.decide(service, who, alert_id, body.verdict, body.reason)
        return {"decided": True}

    @app.get("/api/transparency", tags=["public"])
    def api_transparency() -> dict[str, Any]:
        return transparency.report(service)

    @app.get("/api/crop", tags=["search"], response_class=Response)
    def api_crop(
        who: Who,
        ref: Annotated[str, Query(max_length=128)],
        search: Annotated[int, Query(ge=1)],
    ) -> Response:
        return Response(service.crop(who, ref, search), media_type="image/jpeg")

    @app.get("/api/holds", tags=["holds"])
    def api_holds(who: Who) -> list[dict[str, Any]]:
        return [_jsonable(h) for h in service.holds(who)]

    @app.post("/api/holds", tags=["holds"])
    def api_hold(body: HoldBody, who: Who) -> dict[str, int]:
        return {"hold": service.hold(who, body.case_number, body.reason, body.reads)}

    @app.post("/api/holds/{hold_id}/release", tags=["holds"])
    def api_release(hold_id: int, body: NoteBody, who: Who) -> dict[str, bool]:
        service.release(who, hold_id, body.note)
        return {"released": True}

    @app.get("/api/audit", tags=["oversight"])
    def api_audit(
        who: Who,
        start: datetime | None = None,
        end: datetime | None = None,
        action: Annotated[str | None, Query(max_length=32)] = None,
    ) -> list[dict[str, Any]]:
        start, end = _range(service, start, end)
        return [e.as_dict() for e in service.audit_entries(who, start, end, action)]

    @app.get("/api/audit/export", tags=["oversight"], response_class=PlainTextResponse)
    def api_audit_export(
        who: Who,
        start: datetime | None = None,
        end: datetime | None = None,
        format: Annotated[str, Query(pattern="^(csv|json)$")] = "csv",
    ) -> Response:
        start, end = _range(service, start, end)
        body = service.export_audit(who, start, end, format)
        media = "application/json" if format == "json" else "text/csv"
        return Response(
            body, media_type=media, headers={"Content-Disposition": f'attachment; filename="audit.{format}"'}
        )

    @app.get("/api/review", tags=["oversight"])
    def api_review_queue(who: Who) -> list[dict[str, Any]]:
        return [e.as_dict() for e in service.review_queue(who)]

    @app.post("/api/review/{audit_id}", tags=["oversight"])
    def api_review(audit_id: int, body: ReviewBody, who: Who) -> dict[str, bool]:
        service.review(who, audit_id, body.verdict, body.note)
        return {"reviewed": True}

    @app.get("/api/devices", tags=["devices"])
    def api_devices(who: Who) -> list[dict[str, Any]]:
        return service.devices(who)

    # --- pages --------------------------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        token = request.cookies.get(COOKIE, "")
        who = service.who(token) if token else None
        if who is None:
            return RedirectResponse("/login", status_code=303)
        return RedirectResponse(_home_of(who), status_code=303)

    @app.get("/login", include_in_schema=False, response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        return _page(request, "login.html", None, {"error": None})

    @app.post("/login", include_in_schema=False)
    def login_form(
        request: Request,
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=256)],
        code: Annotated[str, Form(max_length=8)],
    ) -> Response:
        try:
            token, who = service.login(username, password, code, _client(request))
        except RecordsError as exc:
            return _page(request, "login.html", None, {"error": exc.message}, status=exc.status)
        response = RedirectResponse(_home_of(who), status_code=303)
        _set_cookie(response, token, service, secure)
        return response

    @app.post("/logout", include_in_schema=False)
    def logout_form(request: Request, who: PageWho) -> Response:
        service.logout(request.cookies.get(COOKIE, ""), who)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/search", include_in_schema=False, response_class=HTMLResponse)
    def search_page(request: Request, who: PageWho) -> Response:
        return _page(request, "search.html", who, {"form": {}, "hits": None, "search_id": None, **_choices(service)})

    @app.post("/search", include_in_schema=False, response_class=HTMLResponse)
    def search_form(
        request: Request,
        who: PageWho,
        case_number: Annotated[str, Form(max_length=64)] = "",
        purpose: Annotated[str, Form(max_length=80)] = "",
        reason: Annotated[str, Form(max_length=500)] = "",
        plate: Annotated[str, Form(max_length=32)] = "",
        cameras: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        form = {"case_number": case_number, "purpose": purpose, "reason": reason, "plate": plate, "cameras": cameras}
        req = SearchRequest(case_number, purpose, reason, plate, cameras=[c for c in cameras.split(",") if c.strip()])
        try:
            search_id, hits = service.search(who, req)
        except RecordsError as exc:
            ctx = {"form": form, "hits": None, "search_id": None, "error": exc.message, **_choices(service)}
            return _page(request, "search.html", who, ctx, status=exc.status)
        ctx = {"form": form, "hits": hits, "search_id": search_id, **_choices(service)}
        return _page(request, "search.html", who, ctx)

    @app.get("/audit", include_in_schema=False, response_class=HTMLResponse)
    def audit_page(
        request: Request,
        who: PageWho,
        days: Annotated[int, Query(ge=1, le=3650)] = 7,
        action: Annotated[str | None, Query(max_length=32)] = None,
    ) -> Response:
        end = service.clock() + timedelta(seconds=1)
        rows = service.audit_entries(who, end - timedelta(days=days), end, action or None)
        return _page(request, "audit.html", who, {"entries": list(reversed(rows)), "days": days, "action": action})

    @app.get("/review", include_in_schema=False, response_class=HTMLResponse)
    def review_page(request: Request, who: PageWho) -> Response:
        return _page(request, "review.html", who, {"queue": service.review_queue(who)})

    @app.post("/review/{audit_id}", include_in_schema=False)
    def review_form(
        request: Request,
        audit_id: int,
        who: PageWho,
        verdict: Annotated[str, Form(max_length=16)],
        note: Annotated[str, Form(max_length=500)],
    ) -> Response:
        service.review(who, audit_id, verdict, note)
        return RedirectResponse("/review", status_code=303)

    @app.get("/holds", include_in_schema=False, response_class=HTMLResponse)
    def holds_page(request: Request, who: PageWho) -> Response:
        return _page(request, "holds.html", who, {"holds": service.holds(who)})

    @app.post("/holds", include_in_schema=False)
    def hold_form(
        request: Request,
        who: PageWho,
        case_number: Annotated[str, Form(max_length=64)],
        reason: Annotated[str, Form(max_length=500)],
        reads: Annotated[list[str], Form(max_length=1000)],
    ) -> Response:
        service.hold(who, case_number, reason, reads)
        return RedirectResponse("/holds", status_code=303)

    @app.post("/holds/{hold_id}/release", include_in_schema=False)
    def release_form(
        request: Request, hold_id: int, who: PageWho, note: Annotated[str, Form(max_length=500)] = ""
    ) -> Response:
        service.release(who, hold_id, note)
        return RedirectResponse("/holds", status_code=303)

    @app.get("/transparency", include_in_schema=False, response_class=HTMLResponse)
    def transparency_page(request: Request) -> Response:
        return _page(request, "transparency.html", None, {"r": transparency.report(service)})

    @app.get("/hotlist", include_in_schema=False, response_class=HTMLResponse)
    def hotlist_page(request: Request, who: PageWho) -> Response:
        return _page(request, "hotlist.html", who, {"entries": hot.entries(service, who)})

    @app.post("/hotlist", include_in_schema=False, response_class=HTMLResponse)
    def hotlist_form(request: Request, who: PageWho, file: Annotated[UploadFile, File()]) -> Response:
        service.require(who, ("supervisor",), "change the hotlist")
        raw = file.file.read(20_000_001)
        ctx: dict[str, Any] = {}
        try:
            if len(raw) > 20_000_000:
                raise RecordsError(400, "the file is larger than 20 MB")
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise RecordsError(400, "the file is not UTF-8 text") from None
            result = hot.import_hotlist(service, who.username, who.role, text)
            ctx["message"] = (
                f"{result['entries']} entries imported; {result['alerts']} pending alert(s) among the reads held"
            )
        except RecordsError as exc:
            ctx["error"] = exc.message
        status = 400 if "error" in ctx else 200
        return _page(request, "hotlist.html", who, {"entries": hot.entries(service, who), **ctx}, status=status)

    @app.get("/alerts", include_in_schema=False, response_class=HTMLResponse)
    def alerts_page(request: Request, who: PageWho) -> Response:
        ctx = {"pending": hot.alerts(service, who, "pending"), "confirmed": hot.alerts(service, who, "confirmed")}
        return _page(request, "alerts.html", who, {**ctx, "reasons": hot.DISMISS_REASONS})

    @app.post("/alerts/{alert_id}", include_in_schema=False)
    def alert_form(
        request: Request,
        alert_id: int,
        who: PageWho,
        verdict: Annotated[str, Form(max_length=16)],
        reason: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        hot.decide(service, who, alert_id, verdict, reason)
        return RedirectResponse("/alerts", status_code=303)

    @app.get("/alerts/{alert_id}/crop", include_in_schema=False)
    def alert_crop_page(alert_id: int, who: PageWho) -> Response:
        return Response(hot.alert_crop(service, who, alert_id), media_type="image/jpeg")

    @app.get("/devices", include_in_schema=False, response_class=HTMLResponse)
    def devices_page(request: Request, who: PageWho) -> Response:
        return _page(request, "devices.html", who, {"devices": service.devices(who)})

    @app.get("/static/records.css", include_in_schema=False)
    def stylesheet() -> Response:
        css = (TEMPLATES / "records.css").read_text(encoding="utf-8")
        return Response(css, media_type="text/css")

    return app


class _ToLogin(Exception):  # noqa: N818 - a redirect, not an error
    """A page asked for without a session: go to the login page."""


def _page(
    request: Request, name: str, who: Principal | None, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    return _templates.TemplateResponse(
        request, name, {"who": who, "version": __version__, **context}, status_code=status
    )


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/")


def _home_of(who: Principal) -> str:
    return {"investigator": "/search", "supervisor": "/search", "auditor": "/audit"}.get(who.role, "/devices")


def _choices(service: RecordsService) -> dict[str, Any]:
    return {"purposes": service.cfg.purposes, "case_pattern": service.cfg.case_number_pattern}


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _set_cookie(response: Response, token: str, service: RecordsService, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(service.cfg.session_lifetime),
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/",
    )


def _range(service: RecordsService, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or service.clock() + timedelta(seconds=1)
    start = start or end - timedelta(days=30)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    if end <= start:
        raise RecordsError(400, "the time range is empty (end is not after start)")
    return start, end


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
