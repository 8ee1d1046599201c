"""EcgBatch and its actions: one mixin per concern, composed in ``ecg_batch.py``."""
from ecg.batch.ecg_batch import EcgBatch

__all__ = ["EcgBatch"]
