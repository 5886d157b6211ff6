"""A run of work in two processes at once: this one and a fork of it, which sees the
same objects without their being sent (copy on write) and sends back only its results.

For the items of a snapshot (identification and digests, about 10 µs each): at 10^5
items that is a quarter of a second less. Where there is no fork (Windows), one core,
or too little work to pay for the fork and for pickling the results, all of it is done
here; if the fork fails or dies, this process does its part too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.connection import Connection
from typing import TypeVar

T = TypeVar("T")

_WORTH = 20_000  # items: below it a fork costs more than it saves


def in_two(work: Callable[[int, int], list[T]], n: int) -> list[T]:
    """`work(0, n)`, as `work(0, part)` here while a fork does `work(part, n)`."""
    if n < _WORTH or "fork" not in get_all_start_methods() or (os.cpu_count() or 1) < 2:
        return work(0, n)
    # The fork's share is the smaller: it copies each page of objects it touches (their
    # reference counts change) and sends its results, which this process does not.
    part = n * 11 // 20
    context = get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_send, args=(send, work, part, n), daemon=True)
    try:
        child.start()
    except OSError:  # no fork to be had (a process limit): all of it here
        receive.close()
        send.close()
        return work(0, n)
    send.close()
    try:
        mine = work(0, part)
        try:
            theirs: list[T] = receive.recv()
        except (EOFError, OSError):  # the fork failed or died: its part is done here
            theirs = work(part, n)
    finally:
        receive.close()
        if child.is_alive():
            child.terminate()
        child.join()
    return mine + theirs


def _send(send: Connection, work: Callable[[int, int], list[T]], lo: int, hi: int) -> None:
    # An error here is not printed: the parent does this part again and raises it.
    with contextlib.suppress(Exception), send:
        send.send(work(lo, hi))
