"""The dependency rule: orion_events never imports aiohttp or the service."""

import subprocess
import sys


def test_orion_events_imports_no_aiohttp_or_service() -> None:
    code = (
        "import sys, orion_events.store.store, orion_events.ops.verify; "
        "bad = [m for m in sys.modules if m.split('.')[0] in {'aiohttp', 'service'}]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
