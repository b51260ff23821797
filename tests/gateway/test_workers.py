"""The worker supervisor of `ccos serve --workers N` with stand-in children."""

import sys

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
