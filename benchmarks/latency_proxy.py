"""A TCP relay on loopback that adds a fixed delay to every chunk it forwards:
a database "across the network" for the benchmarks, on one machine.

    .venv/bin/python benchmarks/latency_proxy.py --listen 15432 --to 127.0.0.1:5432
    DATABASE_URL=postgres://postgres@127.0.0.1:15432/test make bench BENCH_ARGS="--only service"

Each direction waits ``--delay-ms`` before forwarding, so a query/answer round
trip costs about twice that more than on loopback. It compares code paths by
the round trips they make (the one-statement audited read against its ORM
path); it is not a network emulator (no bandwidth, loss or jitter). It only
listens on loopback and runs until interrupted.
"""

import argparse
import asyncio


async def _pump(reader, writer, delay):
    try:
        while data := await reader.read(65536):
            await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def _serve(listen, host, port, delay):
    async def relay(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection(host, port)
        await asyncio.gather(
            _pump(client_reader, server_writer, delay),
            _pump(server_reader, client_writer, delay),
        )

    server = await asyncio.start_server(relay, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=int, required=True, help="loopback port to listen on")
    parser.add_argument("--to", required=True, help="host:port to relay to")
    parser.add_argument("--delay-ms", type=float, default=0.25, help="delay per direction")
    args = parser.parse_args()
    host, _, port = args.to.rpartition(":")
    asyncio.run(_serve(args.listen, host, int(port), args.delay_ms / 1000))


if __name__ == "__main__":
    main()
