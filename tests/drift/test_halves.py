"""halves.in_two: the work of a run split between this process and a real fork of it."""

from __future__ import annotations

import os

import pytest

from cmdbctl.drift import halves

N = halves._WORTH * 2  # enough to be worth a fork


def test_two_halves_give_what_one_run_gives_in_order_and_the_fork_did_its_half() -> None:
    here = os.getpid()
    data = [f"item-{i}" for i in range(N)]

    def work(lo: int, hi: int) -> list[tuple[str, bool]]:
        return [(value, os.getpid() == here) for value in data[lo:hi]]

    done = halves.in_two(work, N)
    assert [value for value, _ in done] == data
    # The first part here, the rest in the fork (which saw `data` without its being sent).
    here_count = sum(mine for _, mine in done)
    assert 0 < here_count < N
    assert all(mine for _, mine in done[:here_count])


def test_a_fork_that_fails_leaves_its_half_to_this_process() -> None:
    here = os.getpid()

    def work(lo: int, hi: int) -> list[int]:
        if os.getpid() != here:
            raise RuntimeError("the fork fails")
        return list(range(lo, hi))

    assert halves.in_two(work, N) == list(range(N))


def test_a_fork_that_dies_without_a_word_leaves_its_half_to_this_process() -> None:
    here = os.getpid()

    def work(lo: int, hi: int) -> list[int]:
        if os.getpid() != here:
            os._exit(9)
        return list(range(lo, hi))

    assert halves.in_two(work, N) == list(range(N))


def test_an_error_here_is_raised_and_the_fork_does_not_outlive_it() -> None:
    here = os.getpid()

    def work(lo: int, hi: int) -> list[int]:
        if os.getpid() == here:
            raise ValueError("broken here")
        return list(range(lo, hi))

    import multiprocessing

    with pytest.raises(ValueError, match="broken here"):
        halves.in_two(work, N)
    assert not multiprocessing.active_children()


def test_little_work_is_done_here_alone() -> None:
    here = os.getpid()
    assert halves.in_two(lambda lo, hi: [os.getpid() == here] * (hi - lo), 100) == [True] * 100
