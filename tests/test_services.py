"""The service probes in tests/services.py, against the real services and a closed port."""

from __future__ import annotations

import socket

import pytest
from services import SERVICES, require_service, service_answers


def _closed_address() -> tuple[str, int]:
    """A local port nothing listens on: bound by us, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_answers(name: str) -> None:
    require_service(name)
    assert service_answers(name)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_closed_port_does_not_answer(name: str) -> None:
    assert not service_answers(name, address=_closed_address())


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [("true", pytest.fail.Exception), (None, pytest.skip.Exception)],
)
def test_require_service_unreachable(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, outcome: type[BaseException]
) -> None:
    host, port = _closed_address()
    monkeypatch.setitem(SERVICES, "redis", (host, port))
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match=f"redis on {host}:{port}"):
        require_service("redis")
