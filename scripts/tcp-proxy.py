"""A loopback TCP proxy that a script can switch off: scripts/run-local.sh puts it between the
functions and DynamoDB Local, to show a message spooled while the table is down.

  tcp-proxy.py <listen port> <upstream port> <mode file>

Both ports are on 127.0.0.1 (nothing else is ever connected to). The mode file holds `pass`
(forward everything) or `reset` (drop every connection, open or new, with a reset, as an
unreachable table would); it is read for every new connection and every chunk, so a switch
takes effect at once, also on the connections the SDK keeps open. A missing file is `pass`.
"""

import asyncio
import socket
import struct
import sys


def mode(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or "pass"
    except OSError:
        return "pass"


def reset(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER 0: close with a reset, not a polite FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def pipe(reader, writer, path, client_writer):
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            if mode(path) == "reset":
                reset(client_writer)
                break
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        if not writer.is_closing():
            writer.close()


async def serve(listen_port, upstream_port, path):
    async def handle(client_reader, client_writer):
        if mode(path) == "reset":
            reset(client_writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            reset(client_writer)
            return
        await asyncio.gather(
            pipe(client_reader, up_writer, path, client_writer),
            pipe(up_reader, client_writer, path, client_writer),
        )

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    try:
        asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
    except KeyboardInterrupt:
        pass
