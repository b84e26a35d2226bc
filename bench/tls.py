"""Local TLS in front of DynamoDB Local, as the functions meet DynamoDB in AWS.

- `make_pki`: a certificate chain made for one bench run with the openssl command line, shaped
  like the one a DynamoDB endpoint presents: a root, an intermediate and a server certificate,
  all RSA-2048 with SHA-256 signatures; the server sends its certificate and the intermediate,
  and the client checks both signatures up to the root it trusts. The server certificate names
  127.0.0.1 (and localhost) in its subjectAltName.
- `Terminator`: socat (Debian's package) accepting TLS on 127.0.0.1 and forwarding the plain
  bytes to DynamoDB Local, one forked child per connection, with TCP_NODELAY on both of its
  sockets. Without it, a request or answer that socat writes in two pieces (as it does when
  the client sends headers and body as two TLS records) waits for the peer's delayed ACK: 40 ms.
- `nagle_check`: shows the terminator adds no such delay. A small upstream answers every
  request in two writes, the client sends every request in two writes, so both directions
  would stall; round trips through the terminator are compared with round trips straight to
  the upstream, and with a control terminator that leaves Nagle on (which must stall, or the
  check proves nothing).

Loopback only: everything here binds and connects to 127.0.0.1.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

HOST = "127.0.0.1"

EXTENSIONS = """\
[root]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[intermediate]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, digitalSignature, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[server]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


class TlsError(Exception):
    """The local TLS set-up does not work: the bench stops."""


def _openssl(*args: str, cwd: Path):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise TlsError(f"openssl {' '.join(args[:2])} failed: {result.stderr.strip()[-500:]}")


def make_pki(directory: Path) -> dict[str, Path]:
    """A root, an intermediate and a server certificate for 127.0.0.1, made now, valid 2 days.

    Returns the paths: `root` (the CA to trust), `chain` (server certificate + intermediate,
    what the server sends) and `key` (the server's private key)."""
    if shutil.which("openssl") is None:
        raise TlsError("openssl is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "extensions.cnf").write_text(EXTENSIONS)
    for name in ("root", "intermediate", "server"):
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", f"{name}.key", cwd=directory)
        _openssl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN=ingest bench {name}",
                 "-out", f"{name}.csr", cwd=directory)
    common = ["-days", "2", "-sha256", "-extfile", "extensions.cnf"]
    _openssl("x509", "-req", "-in", "root.csr", "-signkey", "root.key", *common,
             "-extensions", "root", "-out", "root.pem", cwd=directory)
    _openssl("x509", "-req", "-in", "intermediate.csr", "-CA", "root.pem", "-CAkey", "root.key",
             "-set_serial", "2", *common, "-extensions", "intermediate",
             "-out", "intermediate.pem", cwd=directory)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "intermediate.pem",
             "-CAkey", "intermediate.key", "-set_serial", "3", *common, "-extensions", "server",
             "-out", "server.pem", cwd=directory)
    _openssl("verify", "-x509_strict", "-CAfile", "root.pem", "-untrusted", "intermediate.pem",
             "server.pem", cwd=directory)
    chain = directory / "chain.pem"
    chain.write_text((directory / "server.pem").read_text() + (directory / "intermediate.pem").read_text())
    for csr in directory.glob("*.csr"):
        csr.unlink()
    return {"root": directory / "root.pem", "chain": chain, "key": directory / "server.key"}


def bundle(path: Path, *parts: Path) -> Path:
    """A PEM bundle of `parts`, in that order (e.g. what a client trusts in AWS, plus the
    run's root)."""
    path.write_text("".join(p.read_text().rstrip("\n") + "\n" for p in parts))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, alive, timeout: float = 10.0):
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if not alive():
            raise TlsError(f"the TLS terminator for port {port} exited at start")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TlsError(f"nothing listens on {HOST}:{port} after {timeout} s")


class Terminator:
    """socat: TLS on 127.0.0.1:<port>, plain TCP to 127.0.0.1:<upstream>."""

    def __init__(self, upstream: int, pki: dict[str, Path], log_path: Path, pid_dir: Path | None = None,
                 nodelay: bool = True):
        if shutil.which("socat") is None:
            raise TlsError("socat is not installed (scripts/setup.sh --bench-tools installs it)")
        self.port = free_port()
        self.upstream = upstream
        self.command = command(self.port, upstream, pki, nodelay)
        self.log = open(log_path, "ab")
        # Its own process group: the children it forks per connection go with it.
        self.popen = subprocess.Popen(self.command, stdout=self.log, stderr=self.log,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid_file = None
        if pid_dir is not None:
            # For scripts/bench.sh's clean-up, should this process die without stopping it.
            pid_dir.mkdir(parents=True, exist_ok=True)
            self.pid_file = pid_dir / f"terminator-{self.popen.pid}.pgid"
            self.pid_file.write_text(f"{self.popen.pid}\n")
        try:
            wait_for_port(self.port, lambda: self.popen.poll() is None)
        except TlsError:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def stop(self):
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        else:
            # Children of a parent that already exited may still hold connections.
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.log.close()
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)


def command(port: int, upstream: int, pki: dict[str, Path], nodelay: bool = True) -> list[str]:
    """The socat command line; `nodelay` sets TCP_NODELAY on the listening socket (which the
    accepted ones inherit) and on the connection to the upstream."""
    listen = (f"OPENSSL-LISTEN:{port},bind={HOST},reuseaddr,fork,"
              f"cert={pki['chain']},key={pki['key']},verify=0")
    connect = f"TCP:{HOST}:{upstream}"
    if nodelay:
        listen += ",nodelay"
        connect += ",nodelay"
    return ["socat", listen, connect]


# ---------------------------------------------------------------------------------------------
# The Nagle check


class SplitUpstream:
    """An HTTP/1.1 server on 127.0.0.1 answering every request in two writes (head, then body,
    1 ms apart), with TCP_NODELAY on its own sockets, so only the terminator can stall."""

    def __init__(self):
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind((HOST, 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    @staticmethod
    def _serve(connection: socket.socket):
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = _HttpReader(connection)
        try:
            while reader.read_message() is not None:
                body = b'{"ok":true}'
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: %d\r\n\r\n" % len(body))
                time.sleep(0.001)
                connection.sendall(body)
        except OSError:
            pass
        finally:
            connection.close()

    def close(self):
        self.closed = True
        self.server.close()


class _HttpReader:
    """Reads whole HTTP/1.1 messages (head and a Content-Length body) off a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def read_message(self) -> bytes | None:
        while b"\r\n\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buffer += data
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            data = self.sock.recv(65536)
            if not data:
                return None
            rest += data
        self.buffer = rest[length:]
        return head


def round_trips(port: int, count: int, ca: Path | None, path: str = "/",
                headers: dict[str, str] | None = None, body: bytes = b"{}") -> list[float]:
    """`count` POSTs on one keep-alive connection, each sent as two writes (head, then body):
    milliseconds per round trip. TLS when `ca` is given."""
    raw = socket.create_connection((HOST, port), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock = raw
    if ca is not None:
        context = ssl.create_default_context(cafile=str(ca))
        sock = context.wrap_socket(raw, server_hostname=HOST)
    head = f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Length: {len(body)}\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    head_bytes = (head + "\r\n").encode()
    reader = _HttpReader(sock)
    times = []
    try:
        for _ in range(count + 1):
            began = time.perf_counter()
            sock.sendall(head_bytes)
            sock.sendall(body)
            if reader.read_message() is None:
                raise TlsError(f"the connection to {HOST}:{port} closed mid-check")
            times.append((time.perf_counter() - began) * 1000)
    finally:
        sock.close()
    return times[1:]  # the first includes the handshake


# A Nagle stall is one delayed ACK: at least 40 ms on Linux. Round trips here take 1-2 ms, so a
# median 20 ms above the direct one can only be a stall, however loaded the machine.
STALL_MS = 20.0


def nagle_check(pki: dict[str, Path], work_dir: Path, count: int = 30) -> dict:
    """Medians of split-write round trips: straight to the split upstream, through a
    terminator as the bench runs it, and through one without TCP_NODELAY (the control).
    Raises TlsError when the bench's terminator stalls."""
    upstream = SplitUpstream()
    log = work_dir / "terminator-check.log"
    figures = {"round_trips": count, "stall_threshold_ms": STALL_MS}
    try:
        figures["direct_ms"] = statistics.median(round_trips(upstream.port, count, None))
        for name, nodelay in (("terminator_ms", True), ("without_nodelay_ms", False)):
            terminator = Terminator(upstream.port, pki, log, nodelay=nodelay)
            try:
                figures[name] = statistics.median(round_trips(terminator.port, count, pki["root"]))
            finally:
                terminator.stop()
    finally:
        upstream.close()
    figures["control_stalled"] = figures["without_nodelay_ms"] - figures["direct_ms"] >= STALL_MS
    if figures["terminator_ms"] - figures["direct_ms"] >= STALL_MS:
        raise TlsError(f"the TLS terminator stalls (Nagle and delayed ACKs?): {figures['terminator_ms']:.1f} ms "
                       f"a round trip against {figures['direct_ms']:.1f} ms direct")
    return figures


def dynamodb_round_trips(plain_port: int, tls_port: int, ca: Path, count: int = 30) -> dict:
    """Medians of the same small DynamoDB request (a DescribeTable of a table that does not
    exist: an error answer, no table work) straight to DynamoDB Local and through the
    terminator: what TLS and the extra hop add to each call."""
    headers = {"Content-Type": "application/x-amz-json-1.0",
               "X-Amz-Target": "DynamoDB_20120810.DescribeTable",
               "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/dynamodb/aws4_request, "
                                "SignedHeaders=host, Signature=0"}
    body = b'{"TableName":"no-such-table"}'
    return {
        "round_trips": count,
        "plain_ms": statistics.median(round_trips(plain_port, count, None, headers=headers, body=body)),
        "tls_ms": statistics.median(round_trips(tls_port, count, ca, headers=headers, body=body)),
    }


if __name__ == "__main__":
    # A manual check: python bench/tls.py
    with tempfile.TemporaryDirectory() as d:
        made = make_pki(Path(d))
        print(nagle_check(made, Path(d)))
