"""The DaVinci Resolve script (`MTT Suggest.py`) and its support package `mtt_resolve/`."""
