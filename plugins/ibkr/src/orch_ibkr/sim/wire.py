"""The messages the fake TWS sends, at server version 176-178, in the field layouts real TWS uses (and
that ib_async and the official client decode). Pure functions returning framed bytes."""

from __future__ import annotations

from decimal import Decimal

from orch_ibkr.protocol import (MAX_VERSION, UNSET_DOUBLE, Contract, ContractDetails, IbOrder, In, encode, price_text,
                                text)


def hello_reply(version: int, connection_time: str) -> bytes:
    return encode(version, connection_time)


def managed_accounts(accounts: list[str]) -> bytes:
    return encode(In.MANAGED_ACCTS, 1, ",".join(accounts))


def next_valid_id(order_id: int) -> bytes:
    return encode(In.NEXT_VALID_ID, 1, order_id)


def error(req_id: int, code: int, message: str) -> bytes:
    # From version 166 an advancedOrderRejectJson field follows (empty here).
    return encode(In.ERROR, 2, req_id, code, message, "")


def current_time(epoch: int) -> bytes:
    return encode(In.CURRENT_TIME, 1, epoch)


def contract_data(req_id: int, d: ContractDetails) -> bytes:
    c = d.contract
    return encode(In.CONTRACT_DATA, req_id, c.symbol, c.sec_type, c.last_trade_date,
                  price_text(c.strike if c.strike is not None else Decimal(0)), c.right, c.exchange, c.currency,
                  c.local_symbol, c.trading_class, c.trading_class, c.con_id, text(d.min_tick), c.multiplier,
                  d.order_types, d.valid_exchanges, 1, 0, d.long_name, c.primary_exchange,
                  "", "", "", "", d.time_zone, "", "", "", "",
                  0,                                   # secIdCount
                  1, "", "", "26,26,26", "", "COMMON" if c.sec_type == "STK" else "",
                  text(d.min_size), text(d.size_increment), text(d.size_increment))


def contract_data_end(req_id: int) -> bytes:
    return encode(In.CONTRACT_DATA_END, 1, req_id)


def tick_price(req_id: int, tick_type: int, price: Decimal, size: Decimal, attr_mask: int = 0) -> bytes:
    return encode(In.TICK_PRICE, 6, req_id, tick_type, price_text(price), text(size), attr_mask)


def tick_size(req_id: int, tick_type: int, size: Decimal) -> bytes:
    return encode(In.TICK_SIZE, 6, req_id, tick_type, text(size))


def tick_string(req_id: int, tick_type: int, value: str) -> bytes:
    return encode(In.TICK_STRING, 6, req_id, tick_type, value)


def market_data_type(req_id: int, kind: int) -> bytes:
    return encode(In.MARKET_DATA_TYPE, 1, req_id, kind)


def tick_req_params(req_id: int, min_tick: Decimal) -> bytes:
    return encode(In.TICK_REQ_PARAMS, req_id, text(min_tick), "9c0001", 3)


def tick_snapshot_end(req_id: int) -> bytes:
    return encode(In.TICK_SNAPSHOT_END, 1, req_id)


def order_status(order_id: int, status: str, filled: Decimal, remaining: Decimal, avg_fill_price: Decimal | None,
                 perm_id: int, parent_id: int, last_fill_price: Decimal | None, client_id: int,
                 why_held: str = "") -> bytes:
    return encode(In.ORDER_STATUS, order_id, status, text(filled), text(remaining),
                  price_text(avg_fill_price) if avg_fill_price else "0", perm_id, parent_id,
                  price_text(last_fill_price) if last_fill_price else "0", client_id, why_held, 0)


def open_order(order_id: int, contract: Contract, order: IbOrder, *, client_id: int, perm_id: int, status: str,
               server_version: int = MAX_VERSION) -> bytes:
    """openOrder: 127 fields at 178 for a plain order (faProfile adds one below 177)."""
    f: list[object] = [In.OPEN_ORDER, order_id, *contract.block(primary=False), order.action,
                       text(order.total_quantity), order.order_type, price_text(order.lmt_price),
                       price_text(order.aux_price), order.tif, order.oca_group, order.account, "O", 0,
                       order.order_ref, client_id, perm_id,
                       int(order.outside_rth), 0, "0", "", "", "", "", ""]
    if server_version < 177:
        f.append("")
    f += ["", "", "", "", "", 0, "", -1,                                  # modelCode .. exemptCode
          0, "", "", "", "", "",                                          # auctionStrategy .. stockRangeUpper
          0, 0, 0, 0, "", 0, 0, 0, "",                                    # displaySize .. nbboPriceCap
          order.parent_id, 0, "", "", "", "",                             # parentId .. deltaNeutralAuxPrice
          0, "", price_text(order.trail_stop_price), price_text(order.trailing_percent),
          "", "", "", 0, 0, 0,                                            # basisPoints .. smartComboRouting
          "", "", "", "",                                                 # scale x3, hedgeType
          0, "", "", 0, 0, "",                                            # optOutSmart .. algoStrategy
          0, 0, status,
          "", "", "", "", "", "", "", "", "",                             # margin before/change/after
          "", "", "", "", "",                                             # commission .. warningText
          0, 0, 0,                                                        # randomize x2, conditions
          "", "", "", "", "", "", "", 0,                                  # adjusted ...
          "", "", "",                                                     # softDollarTier
          "", 0, 0, 0, 0,                                                 # cashQty .. usePriceMgmtAlgo
          "", "", 0,                                                      # duration, postToAts, autoCancel
          "", "", "", "", ""]                                             # minTradeQty .. midOffsetAtHalf
    return encode(*f)


def open_order_end() -> bytes:
    return encode(In.OPEN_ORDER_END, 1)


def exec_details(req_id: int, order_id: int, contract: Contract, *, exec_id: str, time: str, account: str,
                 exchange: str, side: str, shares: Decimal, price: Decimal, perm_id: int, client_id: int,
                 cum_qty: Decimal, avg_price: Decimal, order_ref: str, last_liquidity: int = 2,
                 server_version: int = MAX_VERSION) -> bytes:
    f: list[object] = [In.EXECUTION_DATA, req_id, order_id, *contract.block(primary=False), exec_id, time,
                       account, exchange, side, text(shares), price_text(price), perm_id, client_id, 0,
                       text(cum_qty), price_text(avg_price), order_ref, "", "", "", last_liquidity]
    if server_version >= 178:
        f.append(0)  # pendingPriceRevision
    return encode(*f)


def exec_details_end(req_id: int) -> bytes:
    return encode(In.EXECUTION_DATA_END, 1, req_id)


def commission_report(exec_id: str, commission: Decimal, currency: str) -> bytes:
    return encode(In.COMMISSION_REPORT, 1, exec_id, text(commission), currency, UNSET_DOUBLE, UNSET_DOUBLE, "")


def position(account: str, contract: Contract, qty: Decimal, avg_cost: Decimal) -> bytes:
    return encode(In.POSITION_DATA, 3, account, *contract.block(primary=False), text(qty), text(avg_cost))


def position_end() -> bytes:
    return encode(In.POSITION_END, 1)


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> bytes:
    return encode(In.ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency)


def account_summary_end(req_id: int) -> bytes:
    return encode(In.ACCOUNT_SUMMARY_END, 1, req_id)


def account_value(key: str, value: str, currency: str, account: str) -> bytes:
    return encode(In.ACCT_VALUE, 2, key, value, currency, account)


def portfolio_value(contract: Contract, qty: Decimal, market_price: Decimal, market_value: Decimal,
                    avg_cost: Decimal, unrealized: Decimal, realized: Decimal, account: str) -> bytes:
    c = contract
    return encode(In.PORTFOLIO_VALUE, 8, c.con_id, c.symbol, c.sec_type, c.last_trade_date,
                  price_text(c.strike if c.strike is not None else Decimal(0)), c.right, c.multiplier,
                  c.primary_exchange, c.currency, c.local_symbol, c.trading_class, text(qty),
                  text(market_price), text(market_value), text(avg_cost), text(unrealized), text(realized), account)


def account_time(hhmm: str) -> bytes:
    return encode(In.ACCT_UPDATE_TIME, 1, hhmm)


def account_download_end(account: str) -> bytes:
    return encode(In.ACCT_DOWNLOAD_END, 1, account)


def account_update_multi(req_id: int, account: str, key: str, value: str, currency: str) -> bytes:
    return encode(In.ACCOUNT_UPDATE_MULTI, 1, req_id, account, "", key, value, currency)


def account_update_multi_end(req_id: int) -> bytes:
    return encode(In.ACCOUNT_UPDATE_MULTI_END, 1, req_id)


def completed_orders_end() -> bytes:
    return encode(In.COMPLETED_ORDERS_END)
