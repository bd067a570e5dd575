"""The end of a run: its summary from the artifacts, and the final status posted to a webhook."""
