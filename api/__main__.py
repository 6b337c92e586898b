"""`python -m api [--host H] [--port P] [--workers N]`: serve the HTTP API alone
(`api.standalone`), e.g. for the gateway, beside the dashboard's server."""

from __future__ import annotations

import argparse


def _bounded(low: int, high: int):  # noqa: ANN202
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m api", description="Serve the dashboard's HTTP API (/api/) alone."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_bounded(1, 65535), default=8502, help="default 8502")
    parser.add_argument("--workers", type=_bounded(1, 64), default=1, help="processes (default 1)")
    args = parser.parse_args(argv)
    import uvicorn

    uvicorn.run(
        "api.standalone:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
