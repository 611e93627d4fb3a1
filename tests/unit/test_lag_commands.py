"""`shaho lag`, `shaho dashboard` and `shaho run lag-monitor` facing what an operator's machine
may hold: a port file that is garbage or left by a monitor killed outright, something else
answering on the port, no broker at all. Each says what is wrong and exits non-zero, never with
a traceback."""

from __future__ import annotations

import http.server
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shaho.cli import main
from shaho.lag_commands import from_monitor, written_port


def _closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state folder of its own, a broker port nothing listens on, no broker login needed."""
    monkeypatch.setenv("SHAHO_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("SHAHO_KAFKA_PORT", str(_closed_port()))
    monkeypatch.setenv("SHAHO_KAFKA_AUTH", "0")
    monkeypatch.setenv("SHAHO_PG_PORT", str(_closed_port()))
    monkeypatch.delenv("SHAHO_TOPIC_PREFIX", raising=False)
    (tmp_path / "run").mkdir()
    return tmp_path / "run" / "lag-monitor.port"


@pytest.fixture
def not_a_monitor() -> Iterator[int]:
    """An HTTP server on 127.0.0.1 answering every GET with a Prometheus page."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"shaho_records_in_total 1\n")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@given(st.text(max_size=40))
def test_a_port_file_holds_a_port_or_is_refused_as_none(text: str):
    with tempfile.TemporaryDirectory() as folder:  # tmp_path is one per test, not per example
        path = Path(folder) / "lag-monitor.port"
        path.write_text(text)
        try:
            port = written_port(path)
        except LookupError as refused:
            assert "lag monitor" in str(refused)
            return
        assert 0 < port < 65536
        assert int(text.strip()) == port


@pytest.mark.parametrize("content", ["garbage", "", "99999", "-1", "0", "1.5", "\x00"])
def test_lag_and_dashboard_say_a_garbage_port_file_holds_no_monitor(
    stack: Path, content: str, capsys: pytest.CaptureFixture[str]
):
    stack.write_text(content)
    assert main(["lag", "--from-monitor"]) == 2
    assert main(["dashboard"]) == 2
    err = capsys.readouterr().err
    assert "no lag monitor is running here" in err and "Traceback" not in err


def test_dashboard_refuses_a_port_file_left_by_a_killed_monitor(
    stack: Path, capsys: pytest.CaptureFixture[str]
):
    port = _closed_port()
    stack.write_text(f"{port}\n")
    assert main(["dashboard"]) == 2
    assert main(["lag", "--from-monitor"]) == 2
    err = capsys.readouterr().err
    assert f"nothing answers on port {port}" in err
    assert "http://" not in capsys.readouterr().out


def test_something_else_answering_on_the_port_is_no_monitor(
    stack: Path, not_a_monitor: int, capsys: pytest.CaptureFixture[str]
):
    with pytest.raises(LookupError, match="not a lag monitor"):
        from_monitor(None, not_a_monitor)  # type: ignore[arg-type]  # the port is given
    assert main(["lag", "--from-monitor", "--port", str(not_a_monitor)]) == 2
    assert "not a lag monitor" in capsys.readouterr().err


def test_lag_and_the_monitor_without_a_broker_say_so_and_exit_3(
    stack: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["lag"]) == 3
    assert main(["lag", "--linker"]) == 3
    assert main(["run", "lag-monitor", "--interval", "0.1"]) == 3
    err = capsys.readouterr().err
    assert err.count("cannot be reached") == 3 and "Traceback" not in err
    assert not stack.exists(), "no port file is left behind"


@pytest.mark.parametrize("options", [["--interval", "0", "--stop-after", "10"],
                                     ["--interval", "-1", "--stop-after", "10"],
                                     ["--interval", "nan"], ["--interval", "inf"],
                                     ["--window", "0"], ["--stop-after", "-1"],
                                     ["--port", "99999"], ["--port", "-1"]])
def test_the_monitor_refuses_settings_it_cannot_run_with(
    stack: Path, options: list[str], capsys: pytest.CaptureFixture[str]
):
    assert main(["run", "lag-monitor", *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("shaho run lag-monitor: ") and "Traceback" not in err
    assert not stack.exists()
