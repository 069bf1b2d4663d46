"""A Jupyter server setting for the widgets: kernel websockets that send at once (``TCP_NODELAY``).

Why
---
Every widget update travels kernel -> jupyter server -> browser over the server's websocket, a TCP
connection on which the server (tornado) leaves Nagle's algorithm on: tornado sets ``TCP_NODELAY``
only when asked (``WebSocketHandler.set_nodelay``) and jupyter_server never asks. A small write
that follows another one still unacknowledged then waits for the browser's acknowledgement, which
the receiving side may delay (Linux's delayed ACK, up to 40 ms) -- and a click makes the kernel
send a burst of small messages (status, the live layer's update, the status line). Browsers set
``TCP_NODELAY`` on their side; this sets it on the server's.

Measured with the browser test (``tests/test_browser.py``, JupyterLab, 40 clicks each, three
alternating runs per setting, same machine and code, 2026-12-03): the click's median from mouse-down to the
new map on the live layer fell from 64-67 ms to 49-52 ms, all of it in the relay back to the page
(34-39 -> 24-25 ms). ``python -m benchmarks --only annotator`` measures the JupyterLab click both
ways in each run (the README's latency table).

Use
---
A Jupyter server extension, enabled by a ``jupyter_server_config.d`` file holding
``{"ServerApp": {"jpserver_extensions": {"confmap.jupyter": true}}}``: a regular ``pip install``
places ``jupyter-config/jupyter_server_config.d/confmap.json`` in ``<prefix>/etc/jupyter/``
(pyproject's data-files); ``scripts/install.sh`` and ``binder/postBuild`` copy it there for their
editable installs. For one server: ``jupyter lab --ServerApp.jpserver_extensions=confmap.jupyter=True``.
(``jupyter server extension enable confmap.jupyter`` does not work with jupyter_server 2.x: its
validation accepts only modules that some config file already names.)

When the server starts, the extension makes :class:`NoDelayKernelConnection` the server's kernel
websocket connection (the ``ServerApp.kernel_websocket_connection_class`` setting) if that is still
jupyter_server's default, and logs it; a server configured with another connection class (an
enterprise gateway's, say) is left alone, with a warning in its log. Everything else about the
connection is jupyter_server's own class. The server process imports this module (and so
``confmap``'s light core), never the kernel. Without the extension nothing changes but the
latency.
"""

from __future__ import annotations

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

__all__ = ["NoDelayKernelConnection"]


class NoDelayKernelConnection(ZMQChannelsWebsocketConnection):
    """jupyter_server's kernel websocket connection, with ``TCP_NODELAY`` set on the socket when it opens."""

    def connect(self):
        """Set ``TCP_NODELAY`` on the websocket's socket, then connect as jupyter_server does.

        Returns what jupyter_server's ``connect`` returns (the handler awaits it).
        """
        self.websocket_handler.set_nodelay(True)
        return super().connect()


def _jupyter_server_extension_points():
    return [{"module": "confmap.jupyter"}]


def _load_jupyter_server_extension(serverapp) -> None:
    """Use :class:`NoDelayKernelConnection` for kernel websockets, unless the server chose its own class."""
    settings = serverapp.web_app.settings
    current = settings.get("kernel_websocket_connection_class")
    if current is ZMQChannelsWebsocketConnection:
        settings["kernel_websocket_connection_class"] = NoDelayKernelConnection
        serverapp.log.info("confmap.jupyter: kernel websockets send at once (TCP_NODELAY)")
    else:
        serverapp.log.warning(
            "confmap.jupyter: kernel websockets left to the configured %r (not jupyter_server's default)", current
        )
