"""Charging transactions and their meter samples: /api/v1/transactions (read-only)."""

from __future__ import annotations

from dataclasses import asdict

from chargekit.central.store import Transaction as StoredTransaction

from . import schemas as s
from .operations import Api, Input, Operation


def transaction_out(tx: StoredTransaction) -> s.Transaction:
    fields = asdict(tx)
    del fields["samples"]
    return s.Transaction(
        **fields, status="open" if tx.is_open else "closed", energy_wh=tx.energy_wh
    )


async def list_transactions(api: Api, inp: Input) -> s.TransactionPage:
    q: s.TransactionQuery = inp.query
    items, total = await api.store.transactions.list(
        station_id=q.station_id,
        connector_id=q.connector_id,
        id_tag=q.id_tag,
        status=q.status,
        since=q.from_,
        until=q.to,
        offset=q.offset,
        limit=q.limit,
    )
    return s.TransactionPage(
        items=[transaction_out(tx) for tx in items], total=total, offset=q.offset, limit=q.limit
    )


async def get_transaction(api: Api, inp: Input) -> s.TransactionDetail:
    tx = await api.store.transactions.get(inp.path.transaction_id)
    return s.TransactionDetail(
        **transaction_out(tx).model_dump(),
        samples=[s.MeterSample(**asdict(sample)) for sample in tx.samples or ()],
    )


OPERATIONS = [
    Operation(
        "GET",
        "/transactions",
        list_transactions,
        "read-only",
        "List transactions",
        "transactions",
        "listTransactions",
        query=s.TransactionQuery,
        response=s.TransactionPage,
        description="Newest start first. `from` (inclusive) and `to` (exclusive) bound the "
        "start time (RFC 3339 with an offset; write `+` as `%2B` in a URL). `status` is "
        "`open` or `closed`; `idTag` matches in any letter case.",
    ),
    Operation(
        "GET",
        "/transactions/{transactionId}",
        get_transaction,
        "read-only",
        "Get a transaction with its meter samples",
        "transactions",
        "getTransaction",
        path_model=s.TransactionPath,
        response=s.TransactionDetail,
        errors=(404,),
    ),
]
