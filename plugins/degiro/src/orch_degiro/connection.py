"""One logged-in DEGIRO web session: login (password, TOTP, in-app approval), the service URLs and
intAccount, automatic re-login, the product cache, and each operation the hooks call.

Re-login rule: a call answered 401 (the session expired, about 30 min idle) logs in again once and is
repeated once. If that automatic login fails, no further automatic login is ever attempted on this
connection (repeated failed logins lock DEGIRO accounts): every later call raises AuthError until the user
reconnects.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import httpx
import trio

from orch.context import ConnectContext
from orch.errors import (AuthError, BrokerUnavailable, ConfigError, InvalidOrder, LiveTradingRefused,
                         NotSupported, OrderNotFound, OrderRejected, ProtocolError, UnknownInstrument)
from orch.models import (Account, Balance, Instrument, Market, Order, OrderClass, OrderFilter, OrderRef,
                         OrderRequest, OrderStatus, Position, Quote)
from orch.secret import Secret

from orch_degiro import matching, protocol, state
from orch_degiro.protocol import ClientInfo, HttpRequest, ServiceUrls
from orch_degiro.settings import DegiroSettings, is_loopback_url, proxy_for
from orch_degiro.transport import HttpSession, SessionExpired

CodePrompt = Callable[[], Awaitable[str]]
HISTORY_DAYS = 90
VWD_POLLS = 3


def _terminal_prompt() -> CodePrompt | None:
    """Ask for the one-time code on the terminal, if there is one to ask on."""
    if not (sys.stdin and sys.stdin.isatty()):
        return None

    async def ask() -> str:
        import click

        return await trio.to_thread.run_sync(lambda: click.prompt("DEGIRO one-time code", hide_input=False))

    return ask


class DegiroConnection:
    """What ``orch_connect`` returns. ``http_transport`` lets tests swap the wire; ``code_prompt`` supplies a
    one-time code when no ``totp_secret`` is configured; ``today`` gives the date for history windows."""

    def __init__(self, settings: DegiroSettings, context: ConnectContext, *,
                 http_transport: httpx.AsyncBaseTransport | None = None, code_prompt: CodePrompt | None = None,
                 today: Callable[[], date] = lambda: datetime.now(timezone.utc).date()) -> None:
        self.settings = settings
        self.broker = context.broker
        self.logger = context.logger
        for name in ("username", "password"):
            if not getattr(settings, name).is_set:
                from orch.config import env_var_name

                raise ConfigError("is not set", path=f"brokers.{self.broker}.{name}",
                                  hint=f"set {env_var_name(self.broker, name)}")
        if not settings.paper and not context.live:
            raise LiveTradingRefused(f"brokers.{self.broker} is real DEGIRO, which has no paper account: "
                                     "every command needs --live", hint="use the simulator (orch sim start degiro) "
                                     "to try things without real money")
        self.base_url = settings.base_url.rstrip("/")
        self.http = HttpSession(limiter=context.limiter, timeout=float(settings.timeout_seconds),
                                proxy=proxy_for(settings), broker=self.broker, transport=http_transport)
        self._prompt = code_prompt
        self._state_key = state.account_key(self.base_url, settings.username.reveal())
        self._today = today
        self._session: Secret | None = None
        self._generation = 0
        self._relogin_failed: str | None = None
        self._login_lock = trio.Lock()
        self.urls: ServiceUrls | None = None
        self.client: ClientInfo | None = None
        self.currency = "EUR"
        self.logins = 0
        self._products: dict[str, dict[str, Any]] = {}      # symbol key -> product
        self._by_id: dict[str, dict[str, Any]] = {}          # product id -> product
        self._coid_to_id: dict[str, str] = {}
        self._id_to_coid: dict[str, str] = {}
        # Client order ids whose confirm left without an answer naming the order (found by matching), and
        # those whose confirm never left (provably not placed).
        self._intents: dict[str, matching.Intent] = {}
        self._unsent: set[str] = set()

    def __repr__(self) -> str:
        mode = "simulator" if self.settings.paper else "LIVE"
        return f"<DegiroConnection {self.broker} {mode} {self.base_url}>"

    # ----------------------------------------------------------------------------- session

    async def open(self) -> DegiroConnection:
        from orch_degiro.plugin import RISK_NOTICE

        # The user opted in; say once per connection what they opted into, loudly when it is the real thing.
        self.logger.log(logging.INFO if self.settings.paper else logging.WARNING, "%s: %s", self.broker, RISK_NOTICE)
        if self.settings.mfa and self.settings.totp_secret is None and self._prompt is None:
            self._prompt = _terminal_prompt()
            if self._prompt is None:
                raise ConfigError("mfa is true but there is no totp_secret and no terminal to ask for a code on",
                                  path=f"brokers.{self.broker}.totp_secret",
                                  hint="set ORCH_DEGIRO_TOTP_SECRET (the authenticator's base32 secret)")
        candidate = self.settings.session
        if candidate is None:
            cached = state.load(self._state_key).get("session")
            candidate = Secret(cached, source="degiro session cache") if isinstance(cached, str) else None
        if candidate is not None:
            self._session = candidate
            try:
                await self._bootstrap()
                return self
            except (SessionExpired, AuthError):
                self.logger.info("%s: the earlier session is no longer valid; logging in", self.broker)
                self._session = None
                if self.settings.session is None:
                    state.save(self._state_key, session=None)
        await self._login()
        try:
            await self._bootstrap()
        except SessionExpired:
            raise AuthError("DEGIRO refused the session it had just opened", broker=self.broker) from None
        return self

    async def aclose(self) -> None:
        # No logout: the session is kept for the next orch process (see orch_degiro.state); it ends by itself
        # after 30 min idle.
        await self.http.aclose()

    def _int_account_or_none(self) -> int | None:
        return None if self.client is None else self.client.int_account

    async def _login_step(self, step: str, body: bytes) -> protocol.LoginAnswer:
        response = await self.http.send(protocol.login_request(self.base_url, body, step))
        return protocol.parse_login(response, broker=self.broker)

    async def _one_time_code(self, answer: protocol.LoginAnswer) -> str:
        secret = self.settings.totp_secret
        if secret is not None and secret.is_set:
            import pyotp

            from orch_degiro import totp

            try:
                pyotp.TOTP(secret.reveal()).at(0)
            except Exception:  # noqa: BLE001 - binascii/ValueError: not a base32 secret
                raise ConfigError("is not a base32 TOTP secret", path=f"brokers.{self.broker}.totp_secret",
                                  hint="copy the secret shown when the authenticator was set up") from None
            last = state.load(self._state_key).get("totp_step")
            code, step = await totp.fresh_code(secret.reveal(), last_step=last if isinstance(last, int) else -1)
            state.save(self._state_key, totp_step=step)
            return code
        prompt = self._prompt or _terminal_prompt()
        if prompt is None:
            raise protocol.login_error(answer, broker=self.broker)
        code = "".join((await prompt()).split())
        if not (code.isdigit() and len(code) == 6):
            raise AuthError("the one-time code must be 6 digits", broker=self.broker)
        return code

    async def _login(self) -> None:
        self.logins += 1
        username, password = self.settings.username.reveal(), self.settings.password.reveal()
        answer = await self._login_step("", protocol.login_body(username, password))
        if answer.status == protocol.LOGIN_TOTP:
            code = await self._one_time_code(answer)
            answer = await self._login_step("totp", protocol.login_body(username, password, one_time_password=code))
        elif answer.status == protocol.LOGIN_IN_APP:
            answer = await self._wait_for_approval(username, password, answer)
        if answer.status != protocol.LOGIN_OK or not answer.session_id:
            raise protocol.login_error(answer, broker=self.broker)
        self._session = Secret(answer.session_id, source="degiro session")
        self._generation += 1
        state.save(self._state_key, session=answer.session_id)

    async def _wait_for_approval(self, username: str, password: str,
                                 first: protocol.LoginAnswer) -> protocol.LoginAnswer:
        """Status 12: poll the in-app endpoint until the user approves in the DEGIRO app (status 3 while
        pending), up to ``in_app_timeout_seconds``."""
        token = first.in_app_token
        if not token:
            raise ProtocolError("in-app approval asked for without an inAppToken", broker=self.broker)
        self.logger.warning("%s: approve this login in the DEGIRO app (waiting up to %ss)", self.broker,
                            self.settings.in_app_timeout_seconds)
        body = protocol.login_body(username, password, in_app_token=token)
        give_up = trio.current_time() + float(self.settings.in_app_timeout_seconds)
        while trio.current_time() < give_up:
            await trio.sleep(float(self.settings.in_app_poll_seconds))
            answer = await self._login_step("in-app", body)
            if answer.status == protocol.LOGIN_BAD_CREDENTIALS and not answer.captcha_required:
                continue  # DEGIRO's "not approved yet"
            return answer
        raise AuthError("the login was not approved in the DEGIRO app in time", broker=self.broker,
                        hint=f"approve it within {self.settings.in_app_timeout_seconds}s")

    async def _bootstrap(self) -> None:
        """Config (service URLs, vwd user token) then client (intAccount), then the base currency."""
        sid = self._session.reveal() if self._session else None
        config = await self.http.call(protocol.config_request(self.base_url), session_id=sid)
        urls = protocol.parse_config(config, base_url=self.base_url, broker=self.broker)
        if self.settings.paper:
            # A simulator must never hand us a real DEGIRO host: no paper/live mix-up through the config.
            for url in (urls.trading, urls.pa, urls.product_search, urls.reporting):
                if not is_loopback_url(url):
                    raise ConfigError(f"the simulator's config points at {url!r}, which is not loopback",
                                      path=f"brokers.{self.broker}.base_url")
        self.urls = urls
        client = protocol.parse_client(await self.http.call(protocol.client_request(urls), session_id=sid),
                                       broker=self.broker)
        int_account = self.settings.int_account or client.int_account
        self.client = ClientInfo(int_account=int_account, client_id=urls.client_id or client.client_id)
        info = await self.http.call(protocol.account_info_request(urls, int_account), session_id=sid,
                                    int_account=int_account)
        self.currency = protocol.parse_account_info(info) or self.currency

    def _refuse_after_failed_login(self) -> None:
        if self._relogin_failed is not None:
            raise AuthError(f"the DEGIRO session expired and the automatic login failed earlier "
                            f"({self._relogin_failed}); orch will not try again", broker=self.broker,
                            hint="check the credentials and reconnect")

    async def _relogin(self, generation: int) -> None:
        async with self._login_lock:
            self._refuse_after_failed_login()
            if self._generation != generation:
                return  # another call already logged in again
            self.logger.info("%s: session expired; logging in again", self.broker)
            try:
                await self._login()
                await self._bootstrap()
            except (AuthError, SessionExpired, ConfigError) as exc:
                self._relogin_failed = str(exc) if not isinstance(exc, SessionExpired) else "session refused"
                raise AuthError(f"automatic login after the session expired failed: {self._relogin_failed}",
                                broker=self.broker) from None

    async def call(self, request: HttpRequest) -> Any:
        """A session call; on 401 log in again (at most once) and repeat it once."""
        self._refuse_after_failed_login()
        generation = self._generation
        try:
            return await self._send(request)
        except SessionExpired:
            await self._relogin(generation)
        try:
            return await self._send(request)
        except SessionExpired:
            raise AuthError("DEGIRO refused the new session too", broker=self.broker) from None

    async def _send(self, request: HttpRequest) -> Any:
        sid = self._session.reveal() if self._session is not None else None
        return await self.http.call(request, session_id=sid, int_account=self._int_account_or_none())

    def _urls(self) -> ServiceUrls:
        if self.urls is None or self.client is None:
            raise BrokerUnavailable("not connected", broker=self.broker)
        return self.urls

    # ----------------------------------------------------------------------------- products

    @staticmethod
    def _market(product: Mapping[str, Any]) -> Market:
        if protocol.EXCHANGE_SUFFIXES.get(str(product.get("exchangeId", "")), ""):
            return Market.EU_STOCKS
        return Market.US_STOCKS if product.get("currency") == "USD" else Market.GLOBAL_STOCKS

    def instrument_of(self, product: Mapping[str, Any]) -> Instrument:
        currency = str(product.get("currency") or "EUR")
        return Instrument(symbol=protocol.orch_symbol(product), market=self._market(product),
                          currency="GBP" if currency == "GBX" else currency,
                          broker_ids={self.broker: str(product["id"])})

    def _remember(self, product: dict[str, Any], *keys: str) -> dict[str, Any]:
        self._by_id[str(product["id"])] = product
        for key in keys:
            self._products[key] = product
        return product

    async def product_for(self, instrument: Instrument) -> dict[str, Any]:
        """The DEGIRO product for ``instrument`` (its ``broker_ids['degiro']`` product id if given, else a
        search by ticker or ISIN); cached for the connection's life."""
        known = instrument.broker_ids.get(self.broker)
        key = f"id:{known}" if known else instrument.symbol.strip().upper()
        if key in self._products:
            return self._products[key]
        if known:
            found = (await self.products([known])).get(str(known))
            if found is None:
                raise UnknownInstrument(f"DEGIRO has no product {known}", broker=self.broker)
            return self._remember(found, key)
        text, _ = protocol.split_symbol(instrument.symbol)
        answer = await self.call(protocol.lookup_request(self._urls(), text))
        product = protocol.choose_product(protocol.parse_lookup(answer, broker=self.broker), instrument.symbol,
                                          instrument.currency)
        if product is None:
            raise UnknownInstrument(f"DEGIRO has no tradable product {instrument.symbol}", broker=self.broker,
                                    hint="give the product id as the instrument's degiro broker id, or its ISIN")
        return self._remember(product, key)

    async def products(self, product_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        missing = sorted({str(p) for p in product_ids} - set(self._by_id))
        if missing:
            answer = await self.call(protocol.products_info_request(self._urls(), missing))
            for pid, product in protocol.parse_products_info(answer, broker=self.broker).items():
                product.setdefault("id", pid)
                self._remember(product)
        return {str(p): self._by_id[str(p)] for p in product_ids if str(p) in self._by_id}

    async def _instrument_for_id(self, product_id: str) -> Instrument:
        product = (await self.products([product_id])).get(str(product_id))
        if product is None:
            return Instrument(symbol=str(product_id), market=Market.GLOBAL_STOCKS, currency=self.currency,
                              broker_ids={self.broker: str(product_id)})
        return self.instrument_of(product)

    # ----------------------------------------------------------------------------- account

    async def _update(self, *sections: str) -> Any:
        urls = self._urls()
        return await self.call(protocol.update_request(urls, self.client.int_account, sections))

    async def account(self) -> Account:
        data = await self._update("cashFunds", "totalPortfolio")
        cash = protocol.parse_cash(data)
        totals = protocol.parse_total_portfolio(data)
        base = cash.get(self.currency, totals.get("totalCash", Decimal(0)))
        equity = totals.get("reportNetliq", base)
        buying_power = totals.get("freeSpaceNew", base)
        return Account(broker=self.broker, account_id=str(self.client.int_account), currency=self.currency,
                       cash=base, equity=equity, buying_power=buying_power, paper=self.settings.paper,
                       balances=tuple(Balance(asset=c, free=v) for c, v in sorted(cash.items())),
                       raw={k: str(v) for k, v in totals.items()})

    async def positions(self) -> list[Position]:
        rows = protocol.parse_position_rows(await self._update("portfolio"))
        await self.products([row["id"] for row in rows])
        out = []
        for row in rows:
            instrument = await self._instrument_for_id(row["id"])
            out.append(protocol.position_from_row(row, instrument, instrument.currency, broker=self.broker))
        return out

    # ----------------------------------------------------------------------------- orders

    def check_request(self, request: OrderRequest) -> None:
        """Local refusals, before any I/O."""
        def refuse(capability: str, what: str) -> NotSupported:
            return NotSupported(capability, f"DEGIRO does not support {what}", broker=self.broker)

        if request.type not in protocol.ORDER_TYPE_CODES:
            raise refuse(f"order_type:{request.type.value}", f"{request.type.value} orders")
        if request.time_in_force not in protocol.TIME_TYPE_CODES:
            raise refuse(f"time_in_force:{request.time_in_force.value}",
                         f"time in force {request.time_in_force.value} (day and gtc only)")
        if request.order_class is not OrderClass.SIMPLE:
            raise refuse(f"order_class:{request.order_class.value}", f"{request.order_class.value} orders")
        if request.notional is not None:
            raise refuse("notional_orders", "orders by amount")
        if request.extended_hours:
            raise refuse("extended_hours", "extended-hours orders")
        if request.post_only:
            raise refuse("post_only", "post-only orders")
        if request.iceberg_qty is not None:
            raise refuse("iceberg", "iceberg orders")
        if request.qty is not None and request.qty != request.qty.to_integral_value():
            raise refuse("fractional", f"fractional quantities ({request.qty})")
        for name in ("limit_price", "stop_price"):
            value = getattr(request, name)
            if value is not None and value.as_tuple().exponent < -4:
                raise InvalidOrder(f"{name} {value} has more than 4 decimals")

    async def place_order(self, request: OrderRequest) -> Order:
        """checkOrder, then confirm with the confirmation id it gave. If the session expired at the
        confirm step, nothing was placed (401): log in again and check and confirm once more."""
        self.check_request(request)
        coid = request.client_order_id
        try:
            product = await self.product_for(request.instrument)
            body = protocol.order_body(request, str(product["id"]))
            generation = self._generation
            for attempt in range(2):
                check = protocol.parse_check(await self.call(protocol.check_order_request(self._urls(), body)),
                                             broker=self.broker)
                if coid:
                    # Remembered before the confirm leaves (the only request that places an order): if its
                    # answer is lost, get_order finds the order by what was sent and when.
                    self._intents[coid] = matching.Intent.of(
                        request, str(product["id"]), sent_mono=trio.current_time(),
                        sent_at=datetime.fromtimestamp(self.http.server_time(), timezone.utc))
                try:
                    data = await self._send(protocol.confirm_order_request(self._urls(), check.confirmation_id,
                                                                           body))
                except OrderRejected:
                    self._intents.pop(coid or "", None)  # refused: nothing to find later
                    raise
                except SessionExpired:
                    # 401: the confirm was refused, nothing placed.
                    self._intents.pop(coid or "", None)
                    if attempt:
                        raise AuthError("DEGIRO refused the new session too", broker=self.broker) from None
                    await self._relogin(generation)
                    continue
                break
        finally:
            if coid and coid not in self._intents:
                self._unsent.add(coid)
        try:
            order_id = protocol.parse_confirm(data, broker=self.broker)
        except ProtocolError as exc:
            raise BrokerUnavailable(f"order confirmed but the answer was unreadable ({exc.message})",
                                    broker=self.broker) from exc
        if coid:
            self._bind(coid, order_id)
        return Order(broker=self.broker, broker_order_id=order_id, instrument=self.instrument_of(product),
                     side=request.side, type=request.type, status=OrderStatus.ACCEPTED, raw_status="confirmed",
                     client_order_id=request.client_order_id, qty=request.qty, limit_price=request.limit_price,
                     stop_price=request.stop_price, time_in_force=request.time_in_force)

    def _bind(self, coid: str, order_id: str) -> None:
        self._coid_to_id[coid] = order_id
        self._id_to_coid[order_id] = coid
        self._intents.pop(coid, None)

    async def _find(self, order_id: str) -> Order | None:
        data = await self._update("orders", "historicalOrders", "transactions")
        coid = self._id_to_coid.get(order_id)
        for row in protocol.parse_order_rows(data, "orders"):
            if row["id"] == order_id:
                instrument = await self._instrument_for_id(str(row.get("productId")))
                return protocol.order_from_open_row(row, instrument, broker=self.broker, client_order_id=coid)
        rows = [r for r in protocol.parse_order_rows(data, "historicalOrders") if str(r.get("orderId")) == order_id]
        fills = [t for t in protocol.parse_transaction_rows(data) if str(t.get("orderId")) == order_id]
        if not rows:
            # Older than today: the reports service keeps 90 days.
            end = self._today() + timedelta(days=1)
            start = end - timedelta(days=HISTORY_DAYS)
            history = protocol.parse_data_list(await self.call(
                protocol.history_request(self._urls(), "order-history", start, end)), broker=self.broker)
            rows = [r for r in history if str(r.get("orderId")) == order_id]
            if rows:
                fills = [t for t in protocol.parse_data_list(await self.call(
                    protocol.history_request(self._urls(), "transactions", start, end)), broker=self.broker)
                    if str(t.get("orderId")) == order_id]
        if not rows:
            return None
        instrument = await self._instrument_for_id(str(rows[0].get("productId")))
        return protocol.order_from_history(rows, instrument, broker=self.broker, fills=fills, client_order_id=coid)

    async def _order_id(self, ref: OrderRef) -> str | None:
        """The broker id of ``ref``. DEGIRO keeps no client order ids: orders placed through this connection
        are known by the id DEGIRO returned; any other client order id is unknown (None)."""
        if ref.broker_order_id is not None:
            return ref.broker_order_id
        return self._coid_to_id.get(ref.client_order_id or "")

    async def get_order(self, ref: OrderRef) -> Order | None:
        order_id = await self._order_id(ref)
        if order_id is not None:
            return await self._find(order_id)
        coid = ref.client_order_id or ""
        if coid in self._intents:
            return await self._match_sent(coid, self._intents[coid])
        if coid in self._unsent:
            return None  # its confirm never left this process: DEGIRO cannot have placed it
        return await self._match_without_id(ref)

    async def _match_sent(self, coid: str, intent: matching.Intent) -> Order | None:
        """The order this process confirmed as ``coid`` but whose answer was lost, found by what was sent
        (see :mod:`orch_degiro.matching`): today's open orders and order history (both the update's and the
        reports'), so an order created and already filled or cancelled is found too."""
        data = await self._update("orders", "historicalOrders")
        day = intent.sent_at.astimezone(protocol.VWD_ZONE).date()
        reports = protocol.parse_data_list(await self.call(protocol.history_request(
            self._urls(), "order-history", day - timedelta(days=1), day + timedelta(days=1))), broker=self.broker)
        today = datetime.fromtimestamp(self.http.server_time(), protocol.VWD_ZONE).date()
        seen = matching.seen_orders(protocol.parse_order_rows(data, "orders"),
                                    protocol.parse_order_rows(data, "historicalOrders") + reports, today=today)
        complete = isinstance(data, Mapping) and "orders" in data and "historicalOrders" in data
        # Claims and twins are read after the awaits: another lookup may have bound an order meanwhile.
        claimed = {oid for other, oid in self._coid_to_id.items() if other != coid}
        twins = [other for key, other in self._intents.items() if key != coid]
        verdict = matching.match(intent, seen, claimed=claimed, twins=twins, complete=complete,
                                 elapsed=trio.current_time() - intent.sent_mono,
                                 timeout=float(self.settings.timeout_seconds))
        if verdict.kind == matching.FOUND:
            order = await self._find(verdict.order_id)
            if order is None:
                raise BrokerUnavailable(f"order {coid!r}: DEGIRO order {verdict.order_id} matched but then could "
                                        "not be read", broker=self.broker)
            self._bind(coid, verdict.order_id)
            self.logger.info("%s: order %s found as DEGIRO order %s (%s)", self.broker, coid, verdict.order_id,
                             matching.MATCH_NOTE)
            return attrs.evolve(order, client_order_id=coid, raw_status=f"{order.raw_status} ({matching.MATCH_NOTE})")
        if verdict.kind == matching.ABSENT:
            # Proven absent (the hook's None). Not cached: a later lookup looks again.
            return None
        raise BrokerUnavailable(f"order {coid!r} cannot be matched yet: {verdict.reason}", broker=self.broker,
                                hint="check `orch degiro orders` and the DEGIRO web trader")

    async def _match_without_id(self, ref: OrderRef) -> Order | None:
        """A client order id this connection never saw placed. Absence is proven only when DEGIRO shows no
        order at all for the instrument today; otherwise it cannot be told apart, so the outcome stays
        unknown (BrokerUnavailable), never a guessed match."""
        if ref.instrument is None:
            raise BrokerUnavailable(f"cannot look up {ref.client_order_id!r}: DEGIRO has no client order ids "
                                    "and no instrument was given", broker=self.broker)
        try:
            product = await self.product_for(ref.instrument)
        except UnknownInstrument:
            return None  # DEGIRO has no such product, so no order for it can exist
        data = await self._update("orders", "historicalOrders")
        rows = protocol.parse_order_rows(data, "orders") + protocol.parse_order_rows(data, "historicalOrders")
        if any(str(r.get("productId")) == str(product["id"]) for r in rows):
            raise BrokerUnavailable(f"order {ref.client_order_id!r} cannot be matched: DEGIRO has no client order "
                                    f"ids and shows orders for {ref.instrument.symbol} today", broker=self.broker,
                                    hint="check `orch degiro orders` and the DEGIRO web trader")
        return None

    async def cancel_order(self, ref: OrderRef) -> Order | None:
        order_id = await self._order_id(ref)
        if order_id is None:
            raise OrderNotFound(f"no DEGIRO order is known for client order id {ref.client_order_id!r}",
                                broker=self.broker)
        await self.call(protocol.delete_order_request(self._urls(), order_id))
        return None

    async def list_orders(self, filter: OrderFilter) -> list[Order]:
        sections = ("orders",) if filter.status == "open" else ("orders", "historicalOrders", "transactions")
        data = await self._update(*sections)
        orders: list[Order] = []
        if filter.status in ("open", "all"):
            for row in protocol.parse_order_rows(data, "orders"):
                instrument = await self._instrument_for_id(str(row.get("productId")))
                orders.append(protocol.order_from_open_row(row, instrument, broker=self.broker,
                                                           client_order_id=self._id_to_coid.get(row["id"])))
        if filter.status in ("closed", "all"):
            open_ids = {o.broker_order_id for o in orders}
            grouped: dict[str, list[dict[str, Any]]] = {}
            for row in protocol.parse_order_rows(data, "historicalOrders"):
                grouped.setdefault(str(row.get("orderId")), []).append(row)
            fills = protocol.parse_transaction_rows(data)
            for order_id, rows in reversed(list(grouped.items())):
                if order_id in open_ids:
                    continue
                instrument = await self._instrument_for_id(str(rows[0].get("productId")))
                order = protocol.order_from_history(
                    rows, instrument, broker=self.broker, client_order_id=self._id_to_coid.get(order_id),
                    fills=[t for t in fills if str(t.get("orderId")) == order_id])
                if not order.status.is_open:
                    orders.append(order)
        if filter.instrument is not None:
            product = await self.product_for(filter.instrument)
            orders = [o for o in orders if o.instrument.broker_ids.get(self.broker) == str(product["id"])]
        if filter.since is not None:
            orders = [o for o in orders if o.created_at is None or o.created_at >= filter.since]
        return orders[:filter.limit]

    # ----------------------------------------------------------------------------- quotes

    async def quote(self, instrument: Instrument) -> Quote:
        product = await self.product_for(instrument)
        vwd_id = product.get("vwdId")
        urls = self._urls()
        quotecast = self.settings.quotecast_url or urls.quotecast
        token = self.client.client_id if self.client else None
        if not vwd_id or not quotecast or token is None:
            raise NotSupported("quotes", f"DEGIRO gives no live price for {instrument.symbol} through its web API",
                               broker=self.broker, hint=f"last close: {product.get('closePrice', '?')}")
        # Opening the quote session, subscribing and the first poll are charged at once and then sent back to
        # back: charged one by one, a busy limiter queue (other calls waiting their turn) could hold the
        # subscription back until the fresh vwd session had idled out.
        await self.http.prepay(3)
        session = protocol.parse_vwd_session(
            await self._plain(protocol.vwd_session_request(quotecast, token), prepaid=True), broker=self.broker)
        await self._plain(protocol.vwd_subscribe_request(quotecast, session, str(vwd_id)), prepaid=True)
        refs: dict[int, str] = {}
        values: dict[str, Any] = {}
        for poll in range(VWD_POLLS):
            answer = await self._plain(protocol.vwd_poll_request(quotecast, session), prepaid=poll == 0)
            update = protocol.parse_vwd_messages(answer, refs)
            if update.session_invalid:
                raise BrokerUnavailable("the quote session ended before any price came", broker=self.broker)
            values.update(update.values)
            if any(u.startswith(f"{vwd_id}.") or u == str(vwd_id) for u in update.unavailable):
                raise NotSupported("quotes", f"DEGIRO's price feed has no data for {instrument.symbol}",
                                   broker=self.broker)
            if f"{vwd_id}.BidPrice" in values and f"{vwd_id}.AskPrice" in values:
                break

        def metric(name: str) -> Any:
            return values.get(f"{vwd_id}.{name}")

        stamp = protocol.vwd_timestamp(metric("LastDate"), metric("LastTime"))
        if stamp is None:
            raise BrokerUnavailable(f"no timestamped price for {instrument.symbol} yet", broker=self.broker)
        return Quote(broker=self.broker, instrument=instrument, timestamp=stamp,
                     bid=protocol._decimal(metric("BidPrice")), ask=protocol._decimal(metric("AskPrice")),
                     bid_size=protocol._decimal(metric("BidVolume")), ask_size=protocol._decimal(metric("AskVolume")),
                     last=protocol._decimal(metric("LastPrice")), delayed=product.get("feedQuality") not in (None, "R"))

    async def _plain(self, request: HttpRequest, *, prepaid: bool = False) -> Any:
        return await self.http.call(request, prepaid=prepaid)


def describe(order: Order) -> str:
    price = f" @ {order.limit_price}" if order.limit_price is not None else ""
    return f"{order.broker_order_id} {order.side.value} {order.qty} {order.instrument.symbol} {order.type.value}{price}"

