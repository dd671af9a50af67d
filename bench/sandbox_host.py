"""Both sandboxes in a process of their own, for the benchmarks that run the server as separate
processes: `python -m bench.sandbox_host CONFIG.json` prints one JSON line with their URLs and
serves until its standard input closes (or it is terminated).

CONFIG: {"eh": <sandboxes.eh.create_app config>, "th": <sandboxes.th.create_app config>}. The
limits are the sandboxes' own config keys (rate_per_minute, rate_per_second, block_seconds).
"""

import json
import sys
from pathlib import Path

from sandboxes import eh as eh_sandbox
from sandboxes import th as th_sandbox
from sandboxes.serve import start


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    eh = start(eh_sandbox.create_app(config["eh"]))
    th = start(th_sandbox.create_app(config["th"]))
    try:
        print(json.dumps({"eh": eh.url, "th": th.url}), flush=True)
        sys.stdin.read()  # until the parent closes the pipe
    finally:
        eh.stop()
        th.stop()


if __name__ == "__main__":
    main()
