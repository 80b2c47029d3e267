"""The GitHub workflow run locally with act: installer (install.py) and runner (run.py)."""
