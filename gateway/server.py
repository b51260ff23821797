"""uvicorn, taught to end event streams when it shuts down.

uvicorn waits for open responses before it runs the lifespan shutdown, and an event stream
never ends by itself: without this, every deploy would hold streams until the grace period
ran out and then cut them mid-write. Ending them first lets clients reconnect elsewhere at
once (with Last-Event-ID, losing nothing).
"""

import socket

import uvicorn
from fastapi import FastAPI


class GatewayServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, app: FastAPI) -> None:
        super().__init__(config)
        self.gateway_app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        hub = getattr(self.gateway_app.state, "event_hub", None)
        if hub is not None:
            hub.close_all()
        await super().shutdown(sockets)
