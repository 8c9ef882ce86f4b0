"""The central's domain services over the store, free of transport code.

    from chargekit.central.domain import StoreDomain, hash_password, verify_password

    domain = StoreDomain(store, heartbeat_interval=300)   # the OCPP server's CsmsDomain
    await store.stations.create("CP001", password_hash=hash_password("0123456789abcdef"))

Later parts (bookings, tariffs and CDRs) join this package.
"""

from .passwords import hash_password, needs_rehash, verify_password
from .store_domain import DataTransferHandler, StoreDomain, id_tag_info_of, samples_of

__all__ = [
    "DataTransferHandler",
    "StoreDomain",
    "hash_password",
    "id_tag_info_of",
    "needs_rehash",
    "samples_of",
    "verify_password",
]
