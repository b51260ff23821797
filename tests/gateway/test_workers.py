"""How `ccos serve` runs: the worker supervisor (stand-in children) and the GC tuning."""

import gc
import sys

from gateway.cli import tune_garbage_collector
from gateway.workers import CRASH_LOOP_DEATHS, WorkerSupervisor, bind_listening_socket


def test_children_that_keep_dying_stop_the_server_with_an_error() -> None:
    listener = bind_listening_socket("127.0.0.1", 0)
    try:
        supervisor = WorkerSupervisor(
            command=[sys.executable, "-c", "raise SystemExit(3)"],
            workers=2,
            fd=listener.fileno(),
            stop_timeout_seconds=5,
        )
        assert supervisor.run() == 1
    finally:
        listener.close()
    assert len(supervisor.deaths) == CRASH_LOOP_DEATHS + 1
    assert all(child.poll() is not None for child in supervisor.children)


def test_the_server_process_collects_garbage_less_often_and_not_what_start_up_loaded() -> None:
    threshold = gc.get_threshold()
    try:
        tune_garbage_collector(50_000)
        assert gc.get_threshold()[0] == 50_000
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_a_zero_threshold_keeps_pythons_defaults() -> None:
    threshold = gc.get_threshold()
    tune_garbage_collector(0)
    assert gc.get_threshold() == threshold
