"""Beam jobs: the data contract, readers, cleaning, split and tf.Transform preprocessing. No kfp imports."""
