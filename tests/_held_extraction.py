"""Run a batch extraction that stops for good at one event, for tests that SIGKILL it there.

``python tests/_held_extraction.py INPUT OUT STAGE:INDEX MARKER [N_JOBS]``: extract INPUT into
OUT (chunks of 4 files, N_JOBS loky workers, default 1) with an ``on_event`` that, at event
STAGE:INDEX, writes MARKER (outside OUT) and then waits forever, so that the test can kill the
process at exactly that point without guessing with sleeps. With workers, the chunk events
happen in the worker processes, and MARKER holds the process id of the one that stopped.
Production code carries no hook: only the event argument, which defaults to nothing.
"""

import os
import sys
import threading
from pathlib import Path

from pipelines.batch import extract_folder


def main(input_folder, out, target, marker, n_jobs="1"):
    def on_event(stage, index):
        if f"{stage}:{index}" == target:
            Path(marker).write_text(f"{os.getpid()}")
            threading.Event().wait()

    extract_folder(input_folder, out, chunk_size=4, n_jobs=int(n_jobs), on_event=on_event)


if __name__ == "__main__":
    main(*sys.argv[1:])
