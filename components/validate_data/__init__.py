"""The validate-data step: this run's data against the config and the served model's data, before training."""
