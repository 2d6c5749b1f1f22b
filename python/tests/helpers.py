"""Shared set-up of the Python recorder's tests: the analyzer binary, temporary folders."""

import json
import os
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def analyzer() -> str:
    """The mlx-analyze binary: $MLX_ANALYZE, else the workspace's debug build. Missing is a
    failure, not a skip: these tests exist to show that the analyzer reads Python traces."""
    path = os.environ.get("MLX_ANALYZE") or os.path.join(REPO, "target", "debug", "mlx-analyze")
    if not os.access(path, os.X_OK):
        raise AssertionError(f"mlx-analyze not found at {path}: build it with `cargo build -p mlx-analyze` or set MLX_ANALYZE")
    return path


def analyze_json(*paths, extra=()) -> dict:
    """mlx-analyze's JSON report of the traces."""
    out = subprocess.run([analyzer(), *map(str, paths), "--format", "json", "-o", "-", *extra], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise AssertionError(f"mlx-analyze failed ({out.returncode}): {out.stderr}")
    return json.loads(out.stdout)


class TempDirCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="mlx-trace-py-")
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)
