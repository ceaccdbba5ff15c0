"""Runner selftest: make.py needs a module that does not exist, so the case
fails, or is skipped under --allow-skip (selftest.json)."""
import sys

import picklewall_selftest_no_such_module  # noqa: F401

open(sys.argv[1] + '/never.pkl', 'wb').write(b'N.')
