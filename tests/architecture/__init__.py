"""The architecture as the import contracts check it (lint-imports loads the contract types here)."""
