"""KFP components: one subpackage per step, each plain library code plus a thin component.py adapter."""
