"""Where the build outputs are (`make`, `make image`) and the boot hang guard."""
import os
import pathlib

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = TOP / os.environ.get("SILO_BUILD", "build")
GUEST = TOP / "build" / "guest"

# A hang guard, not a performance assertion: nested KVM under TCG is slow.
BOOT_TIMEOUT = int(os.environ.get("SILO_E2E_BOOT_TIMEOUT", "300"))
