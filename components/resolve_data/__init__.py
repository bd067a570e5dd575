"""The resolve-data step: which files a run reads, decided when the run starts."""
