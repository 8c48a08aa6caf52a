"""The DEGIRO simulator as one ASGI app, and its :class:`~orch.sim.spec.SimulatorSpec`.

One server answers for every DEGIRO host the plugin and degiro-connector use: login and config
(``/login/secure/…``), client data (``/pa/secure/client``), trading (``/trading/secure/…``, session in the
``;jsessionid=`` path parameter and the ``sessionId``/``intAccount`` query), product search
(``/product_search/secure/…``), reports (``/portfolio-reports/secure/…``) and vwd quotes (``/CORS/…``).
The config endpoint names these URLs on the host the client reached, so a proxy in front keeps working.

Session rules: a login creates a session (cookie ``JSESSIONID``); a call with an unknown, mismatched or
idle (30 min) session gets 401; a wrong ``intAccount`` gets 403. The TOTP step checks the code against
:data:`SIM_TOTP_SECRET` (one 30 s step of slack either way).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orch.sim.engine import Engine
from orch.sim.faults import Faults
from orch.sim.spec import SimulatorSpec, engine_factory

from orch_degiro.sim import wire
from orch_degiro.sim.state import (SIM_ACCOUNT, SIM_CLIENT_ID, SIM_INT_ACCOUNT, SIM_PASSWORD, SIM_TOTP_SECRET,
                                   SIM_USERNAME, DegiroSim, Options)

DEFAULT_PORT = 18009
STATE_PATH = "/__degiro__/state"

Handler = Callable[[DegiroSim, Request, dict[str, str]], Awaitable[Response]]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, default=_default), status_code=status, headers=headers,
                    media_type="application/json;charset=UTF-8")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # DEGIRO sends numbers; a float of a tidy Decimal prints back the same digits.
        return float(value)
    raise TypeError(type(value).__name__)


def _errors(text: str, status: int) -> Response:
    return _json({"errors": [{"text": text}]}, status)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        return None


# ------------------------------------------------------------------------------------- login


def _check_password(sim: DegiroSim, body: Any) -> Response | None:
    if not isinstance(body, dict):
        return _json({"status": 1, "statusText": "error"}, 400)
    username = str(body.get("username", "")).lower()
    if username != sim.username.lower() or body.get("password") != sim.password:
        with sim.lock:
            sim.login_failures += 1
            failures = sim.login_failures
        answer: dict[str, Any] = {"loginFailures": failures, "status": 3, "statusText": "badCredentials"}
        if failures >= sim.options.captcha_after:
            answer["captchaRequired"] = True
        return _json(answer, 400)
    return None


def _success(sim: DegiroSim) -> Response:
    sid = sim.open_session()
    with sim.lock:
        sim.login_failures = 0
        sim.counters["logins"] += 1
    return _json({"isPassCodeEnabled": False, "locale": "nl_NL", "redirectUrl": "https://trader.degiro.nl/trader/",
                  "sessionId": sid, "status": 0, "statusText": "success"},
                 headers={"set-cookie": f"JSESSIONID={sid}; Path=/; HttpOnly"})


async def login(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    body = await _body(request)
    sim.counters["login_requests"] += 1
    refused = _check_password(sim, body)
    if refused is not None:
        return refused
    step = match.get("step") or ""
    mode = sim.options.mfa
    if step == "totp":
        import pyotp

        from orch_degiro import totp

        code = str(body.get("oneTimePassword", ""))
        sim.counters["totp_checks"] += 1
        generator = pyotp.TOTP(sim.totp_secret)
        current = int(totp.now() // totp.STEP)
        # One step of slack either way; a code already used is refused (as DEGIRO does).
        steps = [step for step in (current - 1, current, current + 1) if generator.at(step * totp.STEP) == code]
        with sim.lock:
            if not steps or steps[-1] <= sim.last_totp_step:
                sim.counters["totp_refused"] += 1
                return _json({"status": 3, "statusText": "badCredentials"}, 400)
            sim.last_totp_step = steps[-1]
        return _success(sim)
    if step == "in-app":
        token = str(body.get("inAppToken", ""))
        with sim.lock:
            left = sim.in_app.get(token)
            if left is None:
                return _json({"status": 3, "statusText": "badCredentials"}, 400)
            if left > 0:
                sim.in_app[token] = left - 1
                return _json({"status": 3, "statusText": "badCredentials"}, 202)
            del sim.in_app[token]
        return _success(sim)
    if mode == "totp":
        return _json({"status": 6, "statusText": "totpNeeded"}, 202)
    if mode == "in_app":
        token = sim.new_token()
        with sim.lock:
            sim.in_app[token] = sim.options.in_app_pending_polls
        return _json({"status": 12, "statusText": "inAppTOTPNeeded", "inAppToken": token}, 202)
    return _success(sim)


# ------------------------------------------------------------------------------------- sessions


def _session(sim: DegiroSim, request: Request, match: dict[str, str], *, how: str) -> Response | None:
    """None if the request carries a live session the way ``how`` wants (``trading``: path parameter or
    query, equal when both; ``query``; ``cookie``) and, where given, the right intAccount."""
    path_sid = match.get("jsessionid")
    query_sid = request.query_params.get("sessionId")
    if how == "cookie":
        sid = request.cookies.get("JSESSIONID")
    elif how == "query":
        sid = query_sid
    else:
        if path_sid and query_sid and path_sid != query_sid:
            return _errors("Unauthorized", 401)
        sid = path_sid or query_sid
    if not sim.touch(sid):
        return _errors("Unauthorized", 401)
    account = request.query_params.get("intAccount") or match.get("account")
    if account is not None and account != str(SIM_INT_ACCOUNT):
        return _errors("Forbidden", 403)
    if how == "trading" and match.get("account") is None and request.query_params.get("intAccount") is None:
        return _errors("intAccount is required", 400)
    return None


def guarded(how: str, handler: Handler) -> Handler:
    async def run(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
        refused = _session(sim, request, match, how=how)
        return refused if refused is not None else await handler(sim, request, match)

    return run


async def config(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    root = str(request.base_url).rstrip("/")
    return _json({"data": {
        "tradingUrl": f"{root}/trading/secure/", "paUrl": f"{root}/pa/secure/",
        "reportingUrl": f"{root}/portfolio-reports/secure/", "paymentServiceUrl": f"{root}/payments/",
        "productSearchUrl": f"{root}/product_search/secure/",
        "dictionaryUrl": f"{root}/product_search/config/dictionary/",
        "productTypesUrl": f"{root}/product_search/config/productTypes/", "i18nUrl": f"{root}/i18n/",
        "vwdQuotecastServiceUrl": f"{root}/CORS/", "landingPath": "/trader/", "loginUrl": f"{root}/login/secure/login",
        "sessionId": request.cookies.get("JSESSIONID"), "clientId": SIM_CLIENT_ID}})


async def client(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    return _json({"data": {"id": SIM_CLIENT_ID, "intAccount": SIM_INT_ACCOUNT, "clientRole": "basic",
                           "contractType": "PRIVATE", "displayName": "Orch Sim", "locale": "nl_NL",
                           "culture": "NL", "username": SIM_USERNAME, "email": "sim@example.invalid",
                           "isAllocationAvailable": False, "isIskClient": False}})


async def account_info(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    account = sim.engine.account(SIM_ACCOUNT)
    return _json({"data": {"clientId": SIM_CLIENT_ID, "baseCurrency": account.currency,
                           "marginType": "BASIC", "cashFunds": {}, "compensationCapping": 0}})


async def logout(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    with sim.lock:
        sim.sessions.pop(match.get("jsessionid") or request.query_params.get("sessionId", ""), None)
    return Response(status_code=200)


async def update(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    wanted = [name for name in wire.UPDATE_SECTIONS if name in request.query_params]
    return _json(wire.update(sim, wanted))


# ------------------------------------------------------------------------------------- orders


def _order_pace(sim: DegiroSim) -> Response | None:
    interval = sim.options.order_interval
    now = sim.now()
    with sim.lock:
        last, sim.last_order_request = sim.last_order_request, now
    if interval and last is not None and now - last < interval:
        return _errors("Too many requests", 429)
    return None


async def check_order(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    paced = _order_pace(sim)
    if paced is not None:
        return paced
    parsed = wire.parse_order(sim, await _body(request))
    if isinstance(parsed, Response):
        return parsed
    preview = sim.engine.preview_order(SIM_ACCOUNT, **parsed)
    sim.counters["checks"] += 1
    if not preview.accepted:
        return wire.rejection(preview.reject_code, preview.reject_reason)
    token = sim.new_token()
    confirmation = f"{token[:8]}-{token[8:12]}-{token[12:16]}-{token[16:20]}-{token[20:]}"
    with sim.lock:
        sim.confirmations[confirmation] = (parsed, sim.now())
    return _json({"data": {"confirmationId": confirmation, "freeSpaceNew": preview.buying_power,
                           "transactionFee": preview.fee, "showExAnteReportLink": True}})


async def confirm_order(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    paced = _order_pace(sim)
    if paced is not None:
        return paced
    with sim.lock:
        entry = sim.confirmations.pop(match["id"], None)
    if entry is None or sim.now() - entry[1] > sim.options.confirmation_ttl:
        return _errors("No corresponding resource found", 404)
    parsed = wire.parse_order(sim, await _body(request))
    if isinstance(parsed, Response):
        return parsed
    if parsed != entry[0]:
        return _errors("The order differs from the checked order", 400)
    order = sim.engine.place_order(SIM_ACCOUNT, **parsed)
    sim.counters["orders"] += 1
    if order.reject_code is not None:
        return wire.rejection(order.reject_code, order.reject_reason)
    # A "lost answer" fault: the order stands, the fault middleware cuts (or stalls) the reply.
    sim.faults.after_order_accepted()
    return _json({"data": {"orderId": order.id}})


async def delete_order(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    from orch.sim.orders import SimError

    try:
        sim.engine.cancel_order(match["id"], account_id=SIM_ACCOUNT)
    except SimError as exc:
        if exc.code == "order_not_found":
            return _errors("No corresponding resource found", 404)
        return _errors(f"The order cannot be deleted: {exc.message}", 400)
    return Response(status_code=200)


# ------------------------------------------------------------------------------------- products, reports


async def lookup(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    text = request.query_params.get("searchText", "")
    limit = int(request.query_params.get("limit", "10") or 10)
    products = [sim.product(info) for info in sim.search(text)][:limit]
    return _json({"offset": 0, "products": products} if products else {"offset": 0})


async def products_info(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    body = await _body(request)
    if not isinstance(body, list):
        return _errors("Expected a list of product ids", 400)
    data = {}
    for pid in body:
        symbol = sim.symbol_of(pid)
        if symbol is not None:
            data[str(pid)] = sim.product(sim.engine.market.info(symbol))
    return _json({"data": data})


async def order_history(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    window = wire.window(request.query_params)
    if isinstance(window, Response):
        return window
    return _json({"data": wire.history_rows(sim, *window)})


async def transactions(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    window = wire.window(request.query_params)
    if isinstance(window, Response):
        return window
    return _json({"data": wire.transaction_rows(sim, *window)})


# ------------------------------------------------------------------------------------- vwd quotes


async def vwd_session(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    if request.query_params.get("userToken") != str(SIM_CLIENT_ID):
        return _errors("Unknown userToken", 401)
    return _json({"sessionId": wire.open_vwd(sim)})


async def vwd_control(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    body = await _body(request)
    control = body.get("controlData", "") if isinstance(body, dict) else ""
    if not wire.vwd_subscribe(sim, match["vsid"], str(control)):
        return _json([{"m": "sr"}])
    return Response(status_code=200)


async def vwd_poll(sim: DegiroSim, request: Request, match: dict[str, str]) -> Response:
    return _json(wire.vwd_poll(sim, match["vsid"]))


# ------------------------------------------------------------------------------------- routing

_SID = r"(?:;jsessionid=(?P<jsessionid>[^/?;]*))?"
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("POST", re.compile(r"/login/secure/login(?:/(?P<step>totp|in-app))?"), login),
    ("GET", re.compile(r"/login/secure/config"), guarded("cookie", config)),
    ("GET", re.compile(r"/pa/secure/client"), guarded("query", client)),
    ("GET", re.compile(r"/trading/secure/v5/account/info/(?P<account>\d+)" + _SID), guarded("trading", account_info)),
    ("GET", re.compile(r"/trading/secure/v5/update/(?P<account>\d+)" + _SID), guarded("trading", update)),
    ("POST", re.compile(r"/trading/secure/v5/checkOrder" + _SID), guarded("trading", check_order)),
    ("POST", re.compile(r"/trading/secure/v5/order/(?P<id>[^/;]+)" + _SID), guarded("trading", confirm_order)),
    ("DELETE", re.compile(r"/trading/secure/v5/order/(?P<id>[^/;]+)" + _SID), guarded("trading", delete_order)),
    ("PUT", re.compile(r"/trading/secure/logout" + _SID), logout),
    ("GET", re.compile(r"/product_search/secure/v5/products/lookup"), guarded("query", lookup)),
    ("POST", re.compile(r"/product_search/secure/v5/products/info"), guarded("query", products_info)),
    ("GET", re.compile(r"/portfolio-reports/secure/v4/order-history"), guarded("query", order_history)),
    ("GET", re.compile(r"/portfolio-reports/secure/v4/transactions"), guarded("query", transactions)),
    ("POST", re.compile(r"/CORS/request_session"), vwd_session),
    ("POST", re.compile(r"/CORS/(?P<vsid>[A-Za-z0-9-]+)"), vwd_control),
    ("GET", re.compile(r"/CORS/(?P<vsid>[A-Za-z0-9-]+)"), vwd_poll),
]


def build(engine: Engine, faults: Faults, *, options: Options | None = None) -> Starlette:
    """The ASGI app for ``engine``; its state is ``DegiroSim.of(engine)`` afterwards."""
    sim = DegiroSim(engine, faults, options)

    async def dispatch(request: Request) -> Response:
        path = request.scope.get("raw_path", b"").decode("latin-1").partition("?")[0] or request.url.path
        sim.counters["requests"] += 1
        allowed = False
        for method, pattern, handler in ROUTES:
            found = pattern.fullmatch(path)
            if found is None:
                continue
            allowed = True
            if method == request.method:
                return await handler(sim, request, {k: v for k, v in found.groupdict().items() if v is not None})
        if allowed:
            return _errors("Method not allowed", 405)
        return _errors("No corresponding resource found", 404)

    async def state(request: Request) -> JSONResponse:
        return JSONResponse(sim.snapshot())

    app = Starlette(routes=[Route(STATE_PATH, state, methods=["GET"]),
                            Route("/{rest:path}", dispatch, methods=["GET", "POST", "PUT", "DELETE"])])
    app.state.sim = sim
    return app


def error_response(status: int, retry_after: float | None) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Injected faults answer the way DEGIRO's errors look."""
    text = {429: "Too many requests", 401: "Unauthorized"}.get(status, "Internal error" if status >= 500 else "Error")
    body = json.dumps({"errors": [{"text": text}]}).encode()
    headers = [(b"content-type", b"application/json;charset=UTF-8"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None and status in (429, 503):
        headers.append((b"retry-after", str(max(0, round(retry_after))).encode()))
    return headers, body


def config_for(host: str, port: int) -> dict[str, Any]:
    """The ``brokers.degiro`` section for a simulator on ``host:port``: opted in (it is a simulator), TOTP
    on with the simulator's secret. ``paper`` follows from the loopback base_url."""
    where = f"[{host}]" if ":" in host else host
    return {"enabled": True, "acknowledge_unofficial": True, "base_url": f"http://{where}:{port}",
            "username": SIM_USERNAME, "password": SIM_PASSWORD, "mfa": True, "totp_secret": SIM_TOTP_SECRET,
            "in_app_poll_seconds": 1}


# A EUR account with auto FX (DEGIRO converts foreign trades), no margin, no shorting, whole shares. Orders
# answer before they fill (the engine fills at its next step), as DEGIRO's confirm does.
make_engine = engine_factory("degiro", account_id=SIM_ACCOUNT, currency="EUR", cash=50_000, fractional=False,
                             fill_on_submit=False, client_order_id_unique="never")

SPEC = SimulatorSpec(broker="degiro", kind="asgi", build=build, make_engine=make_engine, config_for=config_for,
                     default_port=DEFAULT_PORT, title="DEGIRO (unofficial web-trader API, vwd quotes)",
                     step_interval=0.25, error_response=error_response)
