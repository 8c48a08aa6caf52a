"""The order journal: the durable record that makes every order at-most-once and never lost.

The orchestrator's protocol (ARCHITECTURE.md, "Orders: at-most-once, never lost")::

    entry = journal.record_intent(broker, request, mode="paper", quote_at_submit=quote)  # fsynced
    try:
        order = await client.place_order(entry.request)      # carries entry.client_order_id
    except OrderRejected as exc:                             # the broker proved it refused
        journal.record_rejection(entry.client_order_id, exc.reason, exc.broker_code)
    except BrokerUnavailable as exc:                         # it left; fate unknown: look it up, never resend
        journal.mark_in_flight(entry.client_order_id, str(exc))
    else:
        journal.record_order(entry.client_order_id, order, "submit")

On start-up, :meth:`Journal.unresolved` lists what to reconcile; a look-up that finds the order goes to
:meth:`Journal.record_order`, one that proves absence to :meth:`Journal.mark_not_found`, after which
``record_intent(..., replaces=old_coid)`` may resend under a new client order id. States and the rules for
late news are in :mod:`orch.journal.model` and :mod:`orch.journal.transitions`; storage and its
durability, sharing and trio story in :mod:`orch.journal.store`.
"""

from orch.journal.ids import new_client_order_id
from orch.journal.model import (DuplicateClientOrderId, HaltState, JournalEntry, JournalError, JournalEvent,
                                JournalState)
from orch.journal.paths import default_journal_path, journal_path
from orch.journal.store import Journal

__all__ = [
    "DuplicateClientOrderId", "HaltState", "Journal", "JournalEntry", "JournalError", "JournalEvent",
    "JournalState", "default_journal_path", "journal_path", "new_client_order_id",
]
