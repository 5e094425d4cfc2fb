#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# bench/python/echo_server.py: a TCP echo server with asyncio streams, one
# handler coroutine per connection, for W6 (16 KiB reads, as every W6 server).
#
# Usage: echo_server.py [--host 127.0.0.1] [--port 7000]
import argparse
import asyncio
import socket


async def echo(reader, writer):
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            data = await reader.read(16 * 1024)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(host, port):
    server = await asyncio.start_server(echo, host, port, backlog=1024)
    print(f"listening on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
