"""Hyperparameter search: the trials' suggestions (suggest), the winner (select) and their KFP adapters."""
