"""Progress sync (issue 18): the client and the wire schemas it shares with the server will live here.

Only the package exists yet, so the import-linter contract on `sync.server` (pyproject.toml) holds from
its first file on.
"""
