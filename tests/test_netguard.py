"""The network guard: tests may only reach loopback."""

from __future__ import annotations

import socket

import pytest

from tests.netguard import NetworkAccessDenied, is_local_host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost", "[::1]"])
def test_loopback_is_local(host: str) -> None:
    assert is_local_host(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "8.8.8.8", "example.com", "2001:db8::1", "0.0.0.0"])
def test_everything_else_is_not(host: str) -> None:
    assert not is_local_host(host)


def test_connecting_outside_is_refused_before_any_packet() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(NetworkAccessDenied),
    ):
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1: never routable anyway


def test_resolving_outside_names_is_refused() -> None:
    with pytest.raises(NetworkAccessDenied):
        socket.getaddrinfo("pypi.org", 443)


async def test_asyncio_connections_are_guarded_too() -> None:
    import asyncio

    with pytest.raises(NetworkAccessDenied):
        await asyncio.open_connection("192.0.2.1", 80)


def test_loopback_connections_work() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
