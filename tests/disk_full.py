"""The `asyncrl` command on a disk that fills up, for tests: run as

    python tests/disk_full.py <trigger file> <asyncrl arguments ...>

it runs the command in this process, and once <trigger file> exists every write of a run file
fails as on a full disk (OSError ENOSPC), in results._write_file, through which every byte of a
run file goes."""

import errno
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asyncrl import cli, results  # noqa: E402


def main() -> None:
    trigger = Path(sys.argv[1])
    sys.argv = [sys.argv[0]] + sys.argv[2:]
    write = results._write_file

    def filling(f, data):
        if trigger.exists():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write(f, data)

    results._write_file = filling
    cli.main()


if __name__ == "__main__":
    main()
