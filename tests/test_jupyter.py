"""Tests of confmap.jupyter: the jupyter server extension that sets TCP_NODELAY on kernel websockets.

The latency it buys is measured by tests/test_browser.py (whose servers load the extension; the
test checks their log for it) and benchmarks/bench_annotator.py (which also runs JupyterLab
without it)."""

import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from unittest import mock

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

from confmap import jupyter
from confmap.jupyter import NoDelayKernelConnection

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "jupyter-config"
CONFIG_FILE = CONFIG_DIR / "jupyter_server_config.d" / "confmap.json"


def test_connect_sets_nodelay_first_and_returns_the_servers_result():
    handler = mock.MagicMock(spec=KernelWebsocketHandler)
    order = []
    handler.set_nodelay.side_effect = lambda value: order.append(("nodelay", value))
    sentinel = object()

    def servers_connect(self):
        order.append(("connect", self.websocket_handler is handler))
        return sentinel

    conn = NoDelayKernelConnection(websocket_handler=handler)
    with mock.patch.object(ZMQChannelsWebsocketConnection, "connect", servers_connect):
        assert conn.connect() is sentinel
    assert order == [("nodelay", True), ("connect", True)]


def _server(connection_class):
    return SimpleNamespace(
        web_app=SimpleNamespace(settings={"kernel_websocket_connection_class": connection_class}),
        log=logging.getLogger("test_jupyter"),
    )


def test_the_extension_replaces_only_the_default_connection(caplog):
    assert jupyter._jupyter_server_extension_points() == [{"module": "confmap.jupyter"}]
    app = _server(ZMQChannelsWebsocketConnection)
    with caplog.at_level(logging.INFO, "test_jupyter"):
        jupyter._load_jupyter_server_extension(app)
    assert app.web_app.settings["kernel_websocket_connection_class"] is NoDelayKernelConnection
    assert "TCP_NODELAY" in caplog.text

    class GatewayLike(ZMQChannelsWebsocketConnection):
        pass

    app = _server(GatewayLike)
    with caplog.at_level(logging.WARNING, "test_jupyter"):
        jupyter._load_jupyter_server_extension(app)
    assert app.web_app.settings["kernel_websocket_connection_class"] is GatewayLike
    assert "left to the configured" in caplog.text


def test_the_shipped_config_enables_it_where_jupyter_server_looks():
    """jupyter-config/ holds the file that pyproject (data-files), scripts/install.sh and
    binder/postBuild put in ``<prefix>/etc/jupyter/jupyter_server_config.d``; jupyter_server reads
    the extensions to load from there, and the module is a loadable extension."""
    from jupyter_server.extension.config import ExtensionConfigManager
    from jupyter_server.extension.manager import ExtensionPackage

    manager = ExtensionConfigManager(read_config_path=[str(CONFIG_DIR)])
    assert manager.get_jpserver_extensions() == {"confmap.jupyter": True}
    assert ExtensionPackage(name="confmap.jupyter", enabled=True).validate()
    dest = "etc/jupyter/jupyter_server_config.d"
    data_files = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    assert data_files == {dest: [str(CONFIG_FILE.relative_to(REPO))]}
    for script in ("scripts/install.sh", "binder/postBuild"):
        text = (REPO / script).read_text()
        assert f"cp {CONFIG_FILE.relative_to(REPO)} " in text and dest in text, script


def test_a_server_started_with_it_logs_it(tmp_path):
    """A real jupyter server, the extension enabled on its command line: its log says it took over."""
    code = (
        "import sys\n"
        "from jupyter_server.serverapp import ServerApp\n"
        "app = ServerApp.instance()\n"
        "app.initialize(argv=['--ServerApp.jpserver_extensions=confmap.jupyter=True', '--ServerApp.port=0',\n"
        "                     '--ServerApp.open_browser=False', '--ServerApp.root_dir=' + sys.argv[1]])\n"
        "print(app.web_app.settings['kernel_websocket_connection_class'].__name__)\n"
    )
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"))
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split()[-1] == "NoDelayKernelConnection"
    assert "confmap.jupyter: kernel websockets send at once" in out.stderr
