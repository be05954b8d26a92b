"""`bot.app`: how a gateway that cannot be reached is logged while the bot runs."""

from __future__ import annotations

import logging
import sys

import aiohttp

from bot.app import GatewayUnreachableFilter


def reconnect_record(error: BaseException) -> logging.LogRecord:
    """The record a discord.py shard logs (with `_log.error(..., exc_info=e)`) before
    retrying its connection."""
    try:
        raise error
    except BaseException:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        "discord.shard", logging.ERROR, "shard.py", 163,
        "Attempting a reconnect for shard ID %s in %.2fs", (1, 3.25), exc_info,
    )  # fmt: skip


def launch_retry_record(error: BaseException) -> logging.LogRecord:
    """The record a discord.py shard logs when it fails to start (retried after 5 s)."""
    try:
        raise error
    except BaseException:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        "discord.shard", logging.ERROR, "shard.py", 544,
        "Failed to connect for shard_id: %s. Retrying...", (2,), exc_info,
    )  # fmt: skip


def test_an_unreachable_gateway_is_one_warning_line_once_connected() -> None:
    unreachable = GatewayUnreachableFilter("wss://gateway.example/", connected=lambda: True)
    record = reconnect_record(ConnectionRefusedError(111, "Connection refused"))
    assert unreachable.filter(record)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == (
        "Shard 1 cannot reach Discord's gateway at wss://gateway.example/ "
        "([Errno 111] Connection refused); trying again in 3.2 s"
    )


def test_a_shard_that_cannot_start_is_one_warning_line_too() -> None:
    unreachable = GatewayUnreachableFilter("wss://gateway.example/", connected=lambda: True)
    record = launch_retry_record(TimeoutError())
    assert unreachable.filter(record)
    assert record.getMessage() == (
        "Shard 2 cannot reach Discord's gateway at wss://gateway.example/ "
        "(TimeoutError); trying again in 5.0 s"
    )


def test_before_the_first_connection_the_record_is_left_to_run_bot() -> None:
    unreachable = GatewayUnreachableFilter("wss://gateway.example/", connected=lambda: False)
    assert not unreachable.filter(reconnect_record(aiohttp.ClientConnectionError("refused")))


def test_other_reconnect_causes_keep_their_traceback() -> None:
    unreachable = GatewayUnreachableFilter("wss://gateway.example/", connected=lambda: True)
    record = reconnect_record(ValueError("a bug"))
    assert unreachable.filter(record)
    assert record.exc_info is not None and record.levelno == logging.ERROR
