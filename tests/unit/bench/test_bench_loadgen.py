"""The load generator's merge of worker results (sequencer/bench/loadgen.py)."""

from __future__ import annotations

from sequencer.bench.loadgen import Result, merge


def test_rate_is_the_sum_of_each_workers_answers_in_its_window() -> None:
    out = merge([Result(ok_txs=120, ok_in_window=100, window_s=2.0, last_ok_s=2.1),
                 Result(ok_txs=50, ok_in_window=50, window_s=1.0, last_ok_s=0.9)])
    assert out.ok_in_window_rate == 100 / 2.0 + 50 / 1.0
    assert out.ok_txs == 170


def test_answers_that_all_came_after_a_tiny_window_still_give_a_rate() -> None:
    # The smoke run's 0.5 s window on a loaded machine: every answer late, none in the window.
    late = Result(ok_txs=30, ok_in_window=0, window_s=0.5, last_ok_s=1.5)
    assert merge([late]).ok_in_window_rate == 30 / 1.5


def test_a_worker_that_got_no_answer_adds_nothing() -> None:
    assert merge([Result(ok_txs=0, ok_in_window=0, window_s=0.5, err_txs=4)]).ok_in_window_rate == 0.0
