"""One run per output folder at a time.

```python
from pipeline.lock import OutputLock
with OutputLock("OUT"):          # a second run on OUT stops at once with OutputBusy (naming the pid)
    ...
```
An exclusive `flock` on OUT/.lock, which holds the owner's pid. The kernel releases the lock
when its process dies, however it dies, so the lock of a dead run is simply taken over.
"""

import fcntl
import os

from pipeline.errors import OutputBusy

NAME = ".lock"


class OutputLock:
    def __init__(self, folder):
        self.folder = str(folder)
        self.path = os.path.join(self.folder, NAME)
        self._fd = None

    def __enter__(self):
        os.makedirs(self.folder, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputBusy(
                f"{self.folder} is in use by another run (pid {owner}); wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        return False
