"""The simulator's REST side: web login v2 (and the v1 endpoints answering as the real ones do behind
their firewall), session refresh, account settings, logout."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orch_trade_republic.sim.state import PHONE, TradeRepublicSim

REQUIRED_HEADERS = ("x-tr-device-info", "x-tr-app-version")


def error(status: int, code: str, message: str = "", meta: dict[str, Any] | None = None) -> JSONResponse:
    body = {"errors": [{"errorCode": code, "errorMessage": message or code, "meta": meta or {}}]}
    return JSONResponse(body, status_code=status)


def throttled(sim: TradeRepublicSim, phone: str) -> JSONResponse:
    left = sim.throttle_left(phone)
    at = int((sim.now() + left) * 1000)
    return error(429, "TOO_MANY_REQUESTS", "Too many requests",
                 {"nextAttemptInSeconds": int(left + 0.999), "nextAttemptTimestamp": at})


def _with_session(response: Response, sim: TradeRepublicSim, token: str, refresh: str | None = None) -> Response:
    response.set_cookie("tr_session", token, max_age=int(sim.options.session_ttl), path="/", httponly=True)
    if refresh is not None:
        response.set_cookie("tr_refresh", refresh, max_age=int(sim.options.refresh_ttl), path="/", httponly=True)
    return response


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        return None


def routes(sim: TradeRepublicSim) -> list[Route]:
    async def login(request: Request) -> Response:
        sim.count("login")
        if any(name not in request.headers for name in REQUIRED_HEADERS):
            return error(400, "MISSING_REQUIRED_HEADER", "Missing required header")
        body = await _json(request)
        if not isinstance(body, dict):
            return error(400, "JSON_PARSE_ERROR")
        phone, pin = str(body.get("phoneNumber") or ""), str(body.get("pin") or "")
        if sim.throttle_left(phone) > 0:
            return throttled(sim, phone)
        if not PHONE.match(phone):
            return error(400, "NUMBER_INVALID", "Invalid phone number")
        account = sim.accounts.get(phone)
        if account is None:
            return error(401, "USER_NOT_FOUND", "Unknown user")
        if pin != account.pin:
            sim.failed(phone)
            if sim.throttle_left(phone) > 0:
                return throttled(sim, phone)
            return error(401, "PIN_INVALID", "Invalid PIN")
        process = sim.start(phone)
        method = "AUTHENTICATOR" if process.needs_code else "APP_APPROVAL"
        return JSONResponse({"processId": process.id, "countdownInSeconds": int(sim.options.process_ttl),
                             "twoFactorMethod": method})

    def _process(process_id: str) -> Any:
        process = sim.processes.get(process_id)
        if process is None:
            return error(404, "NOT_FOUND", "Unknown login process")
        if process.expires < sim.now() and process.status == "PENDING":
            return error(410, "PROCESS_GONE", "The login process expired")
        return process

    def _state(process: Any) -> dict[str, Any]:
        body = {"status": process.status, "expiresAt": int(process.expires * 1000)}
        if process.needs_code and process.status == "PENDING":
            body["requiredAction"] = "AUTHENTICATOR_VERIFICATION"
        return body

    async def poll(request: Request) -> Response:
        sim.count("login_poll")
        process = _process(request.path_params["process_id"])
        if isinstance(process, Response):
            return process
        process.polls += 1
        if process.status == "PENDING" and not process.needs_code and process.polls >= sim.options.approve_after_polls:
            process.status = "CONFIRMED"
            session, token = sim.new_session(process.phone)
            return _with_session(JSONResponse(_state(process)), sim, token, session.refresh)
        if process.status == "CONFIRMED":
            process.status = "COMPLETED"
        return JSONResponse(_state(process))

    async def verify(request: Request) -> Response:
        process = _process(request.path_params["process_id"])
        if isinstance(process, Response):
            return process
        body = await _json(request)
        code = str(body.get("code") if isinstance(body, dict) else "")
        if not process.needs_code or process.status != "PENDING":
            return error(400, "ALREADY_PROCESSED", "The login process is already done")
        if code != sim.options.authenticator_code:
            return error(400, "VALIDATION_CODE_INVALID", "Invalid code")
        process.status = "CONFIRMED"
        session, token = sim.new_session(process.phone)
        return _with_session(JSONResponse(_state(process)), sim, token, session.refresh)

    async def v1_login(request: Request) -> Response:
        # Behind AWS WAF since 2026: without a browser's token the load balancer answers 405, empty.
        return Response(b"", status_code=405, headers={"server": "awselb/2.0"})

    async def refresh(request: Request) -> Response:
        sim.count("refresh")
        session = sim.session_for_refresh(request.cookies.get("tr_refresh"))
        if session is None:
            return error(401, "UNAUTHORIZED", "Unauthorized")
        return _with_session(JSONResponse({}), sim, sim.issue(session))

    async def account(request: Request) -> Response:
        session = sim.session_for_token(request.cookies.get("tr_session"))
        if session is None:
            return error(401, "UNAUTHORIZED", "Unauthorized")
        acc = sim.accounts[session.phone]
        return JSONResponse({"phoneNumber": acc.phone[:5] + "*****" + acc.phone[-2:],
                             "securitiesAccountNumber": acc.sec_acc_no, "cashAccounts": [
                                 {"cashAccountNumber": acc.cash_acc_no, "currencyId": "EUR"}],
                             "jurisdiction": "DE", "locale": "en"})

    async def logout(request: Request) -> Response:
        session = sim.session_for_refresh(request.cookies.get("tr_refresh"))
        if session is not None:
            session.alive = False
        response = JSONResponse({})
        response.delete_cookie("tr_session")
        response.delete_cookie("tr_refresh")
        return response

    return [
        Route("/api/v2/auth/web/login", login, methods=["POST"]),
        Route("/api/v2/auth/web/login/processes/{process_id}", poll, methods=["GET"]),
        Route("/api/v2/auth/web/login/processes/{process_id}/authenticator-verification", verify,
              methods=["POST"]),
        Route("/api/v1/auth/web/login", v1_login, methods=["POST"]),
        Route("/api/v1/auth/web/session", refresh, methods=["GET"]),
        Route("/api/v2/auth/account", account, methods=["GET"]),
        Route("/api/v1/auth/web/logout", logout, methods=["POST"]),
    ]
