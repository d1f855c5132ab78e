"""A TCP forwarder from an app host's loopback to the provider host:
``python -m benchmarks.scale.forward --listen 18080 --to 10.228.0.20:8000``.

The app sends secrets only over HTTPS, or plain HTTP to loopback
(``integrations.oauth.check_endpoint_url``; no setting relaxes it), and the
bed's fake provider speaks plain HTTP on its own namespace's address. So each
app host gets this forwarder on 127.0.0.1 and the storm's provider is
registered as ``http://127.0.0.1:<port>``: the product's rule stays as it is.
"""

import argparse
import asyncio
import contextlib


async def _pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _serve(port, host, target_port):
    async def handle(client_reader, client_writer):
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(host, target_port), timeout=10
            )
        except (OSError, TimeoutError):
            client_writer.close()
            return
        await asyncio.gather(
            _pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer)
        )

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print(f"forwarding 127.0.0.1:{port} to {host}:{target_port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--to", required=True, help="host:port")
    args = parser.parse_args(argv)
    host, _, port = args.to.rpartition(":")
    asyncio.run(_serve(args.listen, host, int(port)))


if __name__ == "__main__":
    main()
