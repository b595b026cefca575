"""PySide6 user interface. Imports core and services; nothing imports ui."""
