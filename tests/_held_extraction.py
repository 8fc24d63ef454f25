"""Run a batch extraction that stops for good at one event, for tests that SIGKILL it there.

``python tests/_held_extraction.py INPUT OUT STAGE:INDEX MARKER``: extract INPUT into OUT
(chunks of 4 files, one worker) with an ``on_event`` that, at event STAGE:INDEX, writes MARKER
(outside OUT) and then waits forever, so that the test can kill the process at exactly that
point without guessing with sleeps. Production code carries no hook: only the event argument,
which defaults to nothing.
"""

import sys
import threading
from pathlib import Path

from pipelines.batch import extract_folder


def main(input_folder, out, target, marker):
    def on_event(stage, index):
        if f"{stage}:{index}" == target:
            Path(marker).write_text(target)
            threading.Event().wait()

    extract_folder(input_folder, out, chunk_size=4, n_jobs=1, on_event=on_event)


if __name__ == "__main__":
    main(*sys.argv[1:])
