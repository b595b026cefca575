"""Downloads: hub metadata, resumable verified transfers, the download queue."""
