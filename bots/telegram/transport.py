"""python-telegram-bot's transport on aiohttp instead of httpx.

PTB keeps the Bot API apart from the HTTP client behind `BaseRequest`; we keep PTB's `Bot`, its
wire objects and its error mapping, and swap only the transport. Measured on this machine
(benchmarks/delivery_throughput.py and bots' own micro-benchmark), PTB's default httpx transport
spends about 2.6 ms of CPU per sendMessage against 0.2 ms for an aiohttp request: at tens of
thousands of nudges that is the difference between a worker keeping up or not.

Errors keep PTB's meaning (TimedOut, NetworkError). A request that never left (refused or timed
out while connecting) carries `RequestNotSent` as its cause, so the sender can retry it safely.
"""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

DEFAULT_NONE = BaseRequest.DEFAULT_NONE


class RequestNotSent(Exception):
    """The request did not reach the Bot API (connection refused, connect timeout)."""


class AiohttpRequest(BaseRequest):
    def __init__(
        self,
        *,
        connection_pool_size: int = 64,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        write_timeout: float = 10.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = DEFAULT_NONE,
        write_timeout: object = DEFAULT_NONE,
        connect_timeout: object = DEFAULT_NONE,
        pool_timeout: object = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        await self.initialize()
        assert self._session is not None
        read = _seconds(read_timeout, self._read_timeout)
        connect = _seconds(connect_timeout, self._connect_timeout)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        body: aiohttp.FormData | bytes | None = None
        headers = {"User-Agent": self.USER_AGENT}
        if request_data is not None and request_data.contains_files:
            form = aiohttp.FormData()
            for name, value in request_data.json_parameters.items():
                form.add_field(name, value)
            for name, part in request_data.multipart_data.items():
                filename, content, mime = part if len(part) == 3 else (*part, None)
                form.add_field(name, content, filename=filename, content_type=mime)
            body = form
        elif request_data is not None:
            # Encoded here rather than through aiohttp's FormData, which builds a multipart
            # writer (and a random boundary) for every request only to urlencode a dict.
            body = urlencode(request_data.json_parameters).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            async with self._session.request(
                method, url, data=body, timeout=timeout, headers=headers
            ) as response:
                return response.status, await response.read()
        except aiohttp.ClientConnectorError as exc:
            raise NetworkError(f"aiohttp: {exc}") from RequestNotSent(str(exc))
        except aiohttp.ConnectionTimeoutError as exc:
            raise TimedOut("connect timeout: the request was not sent") from RequestNotSent(
                str(exc)
            )
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


def _seconds(value: object, default: float) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if value is None:
        return None
    return default  # DEFAULT_NONE: our own default
