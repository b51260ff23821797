"""Several gateway processes on one port (``SERVER_WORKERS`` > 1).

One Python process uses one core. The parent binds the listening socket once and starts
``SERVER_WORKERS`` children (``ccos serve --fd N``) that inherit it, so the kernel hands each
new connection to one of them; it restarts a child that dies and passes SIGTERM/SIGINT on for a
graceful stop. Every part of the gateway is safe in several processes at once: jobs, sweeps and
callbacks claim their rows with ``FOR UPDATE SKIP LOCKED``, the Realtime publisher holds an
advisory lock, and each process relays events to its own streams from the shared outbox.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

import structlog

logger = structlog.get_logger(__name__)

# More deaths than this within the window is a crash loop (a broken configuration, a database
# that refuses every worker): restarting would only fill the log, so the whole server stops.
CRASH_LOOP_DEATHS = 5
CRASH_LOOP_WINDOW_SECONDS = 60.0
POLL_SECONDS = 0.2


def bind_listening_socket(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(backlog)
    listener.set_inheritable(True)
    return listener


def worker_command(fd: int) -> list[str]:
    """The child: this same interpreter and package, serving on the inherited socket."""
    return [sys.executable, "-c", "from gateway.cli import main; main()", "serve", "--fd", str(fd)]


class WorkerSupervisor:
    def __init__(
        self, *, command: Sequence[str], workers: int, fd: int, stop_timeout_seconds: float
    ) -> None:
        self.command = list(command)
        self.workers = workers
        self.fd = fd
        self.stop_timeout_seconds = stop_timeout_seconds
        self.stopping = False
        self.children: list[subprocess.Popen[bytes]] = []
        self.deaths: list[float] = []

    def _start_child(self) -> subprocess.Popen[bytes]:
        # Our own interpreter and arguments (worker_command), nothing from outside.
        child = subprocess.Popen(self.command, pass_fds=(self.fd,))  # noqa: S603
        logger.info("gateway_worker_started", pid=child.pid)
        return child

    def _crash_looping(self) -> bool:
        now = time.monotonic()
        self.deaths = [t for t in self.deaths if now - t < CRASH_LOOP_WINDOW_SECONDS] + [now]
        return len(self.deaths) > CRASH_LOOP_DEATHS

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; the exit status is 0 after a clean stop."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._request_stop)
        self.children = [self._start_child() for _ in range(self.workers)]
        status = 0
        while not self.stopping:
            time.sleep(POLL_SECONDS)
            for index, child in enumerate(self.children):
                if child.poll() is None or self.stopping:
                    continue
                logger.error("gateway_worker_died", pid=child.pid, returncode=child.returncode)
                if self._crash_looping():
                    logger.error("gateway_workers_crash_looping", deaths=len(self.deaths))
                    self.stopping, status = True, 1
                    break
                self.children[index] = self._start_child()
        self._stop_children()
        return status

    def _stop_children(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_seconds
        for child in self.children:
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.error("gateway_worker_killed", pid=child.pid)
                child.kill()
                child.wait()


def serve_workers(*, host: str, port: int, workers: int, stop_timeout_seconds: float) -> int:
    listener = bind_listening_socket(host, port)
    try:
        logger.info(
            "gateway_listening", host=host, port=port, workers=workers, parent_pid=os.getpid()
        )
        return WorkerSupervisor(
            command=worker_command(listener.fileno()),
            workers=workers,
            fd=listener.fileno(),
            stop_timeout_seconds=stop_timeout_seconds,
        ).run()
    finally:
        listener.close()
