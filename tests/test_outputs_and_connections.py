"""Outputs and connections fail cleanly: an --out that names a folder where a file is written (or a file where a
folder is), a folder or device given as a table, and every kind of bad --scheduler end in one located message
(connections only to 127.0.0.1)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli
from voxpop.core.cache import output_directory, write_text
from voxpop.core.cluster import connect
from voxpop.core.errors import ConfigError, InputError
from voxpop.core.scheduler_address import CONNECT_TIMEOUT, check_scheduler, parse_scheduler
from voxpop.corpus.corpus import Corpus
from voxpop.corpus.formats.tables import read_table


def _invoke(*args):
    return CliRunner().invoke(voxpop.cli.app, [str(a) for a in args])


def _refused(result, kind, *fragments):
    assert result.exit_code != 0 and isinstance(result.exception, kind), result.output
    message = " ".join(str(result.exception).split())
    for fragment in fragments:
        assert fragment in message, message


# ====================================================================== outputs
def test_labels_out_naming_a_folder_is_a_located_error(demo_corpus, tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    result = _invoke("labels", demo_corpus.dir, "--rule", "mr", "--condition", "voice", "--out", folder)
    _refused(result, ConfigError, f"{folder}: is a folder; a file is written here")
    assert list(folder.iterdir()) == []  # nothing written into it either


def test_labels_out_below_a_file_names_the_file(demo_corpus, tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("keep me")
    out = blocker / "mr.parquet"
    result = _invoke("labels", demo_corpus.dir, "--rule", "mr", "--condition", "voice", "--out", out)
    _refused(result, ConfigError, f"{out}: cannot be written: {blocker} is a file, not a folder")
    assert blocker.read_text() == "keep me"


def test_predict_out_naming_a_folder_is_a_located_error(demo_logreg_run, demo_corpus, tmp_path):
    clip = next((demo_corpus.root / "audio").rglob("*.wav"))
    result = _invoke("predict", demo_logreg_run.directory, clip, "--out", tmp_path)
    _refused(result, ConfigError, f"{tmp_path}: is a folder; a file is written here")


def test_a_folder_output_named_like_an_existing_file_is_a_located_error(demo_corpus, tmp_path):
    existing = tmp_path / "study.txt"
    existing.write_text("notes")
    result = _invoke("train", demo_corpus.dir, "--labels", "mr", "--condition", "voice", "--extractor", "fbank",
                     "--head", "logreg", "--out", existing)  # fmt: skip
    _refused(result, ConfigError, f"{existing}: is a file; a folder is written here")
    ratings = tmp_path / "long.csv"
    ratings.write_text("item,rater,label\na,r1,anger\n")
    _refused(_invoke("import", "long", ratings, "--out", existing), ConfigError, f"{existing}: is a file; a folder")
    _refused(_invoke("import", "long", ratings, "--out", existing / "corpus"), ConfigError,
             f"{existing / 'corpus'}: cannot be created: {existing} is a file, not a folder")  # fmt: skip
    assert existing.read_text() == "notes"


def test_the_writer_names_a_missing_parent_folder_and_output_directory_a_file_in_the_way(tmp_path):
    with pytest.raises(ConfigError, match="the folder .*missing does not exist; create it first"):
        write_text(tmp_path / "missing" / "a.txt", "x")
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="is a file; a folder is written here"):
        output_directory(tmp_path / "f")


# ====================================================================== tables that are not files
def test_a_folder_given_as_a_table_says_so(tmp_path):
    for name in ("votes.csv", "votes.parquet"):
        (tmp_path / name).mkdir()
        with pytest.raises(InputError, match=f"{tmp_path / name}: is a folder, not a ratings file"):
            read_table(tmp_path / name, "ratings")
    result = _invoke("import", "long", tmp_path / "votes.csv", "--out", tmp_path / "c")
    _refused(result, InputError, f"{tmp_path / 'votes.csv'}: is a folder, not a")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_or_pipe_given_as_a_table_is_refused_without_reading_it(tmp_path):
    with pytest.raises(InputError, match="/dev/zero: is a device, not a regular ratings file"):
        read_table("/dev/zero", "ratings")  # read to the end, this would never stop
    pipe = tmp_path / "ratings.csv"
    os.mkfifo(pipe)  # opening it for reading would wait for a writer forever
    with pytest.raises(InputError, match="ratings.csv: is a pipe, not a regular ratings file"):
        read_table(pipe, "ratings")
    link = tmp_path / "link.csv"
    link.symlink_to("/dev/zero")
    _refused(_invoke("import", "long", link, "--out", tmp_path / "c"), InputError, "link.csv: is a device")


# ====================================================================== --scheduler
@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("tcp://127.0.0.1:notaport", "not a scheduler address; expected tcp://HOST:PORT or tls://HOST:PORT"),
        ("http://127.0.0.1:8787", "voxpop connects over tcp:// or tls://, not http://"),
        ("127.0.0.1:70000", "port 70000 is outside 1-65535"),
        ("tcp://127.0.0.1:8786/status extra", "not a scheduler address"),
        ("", "not a scheduler address"),
    ],
)
def test_a_malformed_scheduler_address_is_refused_before_connecting(address, message):
    with pytest.raises(ConfigError, match=message.replace("/", ".").replace("(", ".").replace(")", ".")):
        parse_scheduler(address)


def test_tls_without_certificates_or_certificates_for_tcp_are_refused_before_connecting():
    with pytest.raises(ConfigError, match="tls:// needs certificates: give --tls-ca-file, --tls-cert and --tls-key"):
        check_scheduler("tls://127.0.0.1:1")

    class Certificates:  # stands for the Security object of the --tls-* files: never used for tcp://
        pass

    with pytest.raises(ConfigError, match="TLS certificates are given but the address is tcp://"):
        check_scheduler("tcp://127.0.0.1:1", Certificates())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_dead_port_ends_at_once_with_one_message(tmp_path):
    port = _free_port()  # bound, then closed: nothing listens there
    started = time.monotonic()
    with pytest.raises(ConfigError, match=f"tcp://127.0.0.1:{port}: nothing listens on port {port}"):
        check_scheduler(f"127.0.0.1:{port}")
    assert time.monotonic() - started < CONNECT_TIMEOUT
    result = _invoke("run", "recipes/3-aggregation-rules.yaml", "--out", tmp_path / "s",
                     "--scheduler", f"tcp://127.0.0.1:{port}")  # fmt: skip
    _refused(result, ConfigError, f"--scheduler tcp://127.0.0.1:{port}: nothing listens on port {port}")


@pytest.fixture
def server():
    """``start(greeting)``: a server on 127.0.0.1 that accepts connections and sends ``greeting`` (None: never
    answers, like an address whose packets are dropped, or a server that waits for the client to speak)."""
    sockets = []

    def start(greeting: bytes | None) -> int:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        sockets.append(listener)
        if greeting is not None:

            def answer():
                with listener.accept()[0] as connection:
                    connection.sendall(greeting)
                    time.sleep(1)

            threading.Thread(target=answer, daemon=True).start()
        return listener.getsockname()[1]

    yield start
    for listener in sockets:
        listener.close()


def test_a_server_that_never_answers_ends_within_the_timeout(server):
    port = server(None)
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"connected, but no Dask greeting came within 0.5 s: not a Dask scheduler"):
        check_scheduler(f"tcp://127.0.0.1:{port}", timeout=0.5)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    "greeting",
    [
        pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n", id="ssh-banner"),  # read by Dask as a 5.6e18-byte frame: MemoryError
        pytest.param((2**40).to_bytes(8, "little"), id="huge-length"),
        pytest.param((16).to_bytes(8, "little") + (99).to_bytes(8, "little") + bytes(8), id="too-many-frames"),
    ],
)
def test_a_server_that_is_not_a_dask_scheduler_is_named(server, greeting):
    port = server(greeting)
    with pytest.raises(ConfigError, match=f"--scheduler tcp://127.0.0.1:{port}: the server's first message"):
        check_scheduler(f"tcp://127.0.0.1:{port}", timeout=5)


def test_a_server_that_hangs_up_is_named(server):
    port = server(b"")
    with pytest.raises(ConfigError, match="closed the connection without a Dask greeting"):
        check_scheduler(f"tcp://127.0.0.1:{port}", timeout=5)


def test_a_real_dask_scheduler_passes_the_check_and_connects():
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=True, dashboard_address=":0", host="127.0.0.1") as cluster:
        address = cluster.scheduler_address
        assert str(check_scheduler(address)) == address
        with connect(1, address) as client:
            assert client.scheduler_info()["address"] == address


@pytest.fixture
def tls_security(tmp_path):
    """A ``Security`` whose one self-signed certificate (made by the openssl command) is CA, scheduler and client."""
    import shutil
    import subprocess

    from distributed.security import Security

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return Security(
        tls_ca_file=str(cert), tls_client_cert=str(cert), tls_client_key=str(key), tls_scheduler_cert=str(cert),
        tls_scheduler_key=str(key), require_encryption=True,
    )  # fmt: skip


def test_tls_to_a_tls_scheduler_passes_and_tls_to_a_plain_one_fails_its_handshake(tls_security):
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=True, dashboard_address=":0", host="127.0.0.1", protocol="tls",
                      security=tls_security) as cluster:  # fmt: skip
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:") and str(check_scheduler(address, tls_security)) == address
        with connect(1, address, tls_security) as client:
            assert client.scheduler_info()["address"] == address
    with LocalCluster(n_workers=0, processes=True, dashboard_address=":0", host="127.0.0.1") as plain:
        tls_address = plain.scheduler_address.replace("tcp://", "tls://")
        with pytest.raises(ConfigError, match=f"--scheduler {tls_address}: the TLS handshake failed"):
            check_scheduler(tls_address, tls_security, timeout=5)


def test_odd_label_set_outputs_are_located_errors(tmp_path):
    """labels --out naming an existing plain file, a pipe, a device, a symlink to a folder or a folder that takes no
    file: NotADirectoryError / FileNotFoundError tracebacks, a symlink to a corpus folder called 'a different label
    set', and /dev/null would have been replaced by the new file when run as root."""
    ratings = pd.DataFrame({"item": ["c1"], "rater": ["r1"], "label": ["anger"]})
    Corpus("toy", pd.DataFrame({"speaker": ["s1"]}, index=["c1"]), ratings, classes=["anger"]).save(tmp_path / "c")
    plain = tmp_path / "notes"  # no suffix: was taken for the scratch folder of the comparison
    plain.write_text("")
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "c")
    cases = [
        (plain, "already holds a file that is not a label set (not a Parquet table)"),
        (pipe, "is a pipe, not a regular file"),
        (link, f"is a folder (through the symlink to {tmp_path / 'c'})"),
    ]
    if os.path.exists("/dev/null"):
        cases.append((Path("/dev/null"), "is a device, not a regular file"))
    if os.path.isdir("/proc/self"):
        cases.append((Path("/proc/self/x.parquet"), "the folder /proc/self does not take a new file"))
    for out, message in cases:
        result = _invoke("labels", tmp_path / "c", "--rule", "mr", "--out", out)
        _refused(result, ConfigError, message)
    assert plain.read_text() == "" and link.is_symlink()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_an_output_folder_that_cannot_be_created_is_a_located_error(tmp_path):
    """import --out /proc/self/corp was a FileNotFoundError traceback from mkdir (output_directory, output_file)."""
    (tmp_path / "votes.csv").write_text("item,rater,label\nu1,r1,anger\n")
    result = _invoke("import", "long", tmp_path / "votes.csv", "--out", "/proc/self/corp")
    _refused(result, ConfigError, "cannot write to /proc/self/corp: no such file or directory (the folder cannot be")
    with pytest.raises(ConfigError, match=r"cannot write to /proc/self/a: .* \(the folder cannot be created\)"):
        output_directory("/proc/self/a", "b")


def test_evaluate_refuses_a_folder_at_out_before_scoring(tmp_path):
    """evaluate --out FOLDER loaded the runs, scored them with 1000 bootstrap resamples and only then refused the
    folder; the target is now checked first (here the run does not even exist)."""
    (tmp_path / "tables").mkdir()
    result = _invoke("evaluate", tmp_path / "no-such-run", "--labels", "mr", "--out", tmp_path / "tables")
    _refused(result, ConfigError, "tables: is a folder; a file is written here")
