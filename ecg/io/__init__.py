"""File input/output: WFDB/EDF records, annotations, label tables and npz caches.

Plain functions that take paths and return arrays and dicts (in the style of
``wfdb.rdrecord``); the ``EcgBatch.load`` / ``dump`` actions call them per record.
"""
from ecg.io.records import invalid_mask, read_annotation, read_header_meta, read_record
from ecg.io.labels import read_labels
from ecg.io.npz import read_npz, write_npz

__all__ = ["read_record", "invalid_mask", "read_annotation", "read_header_meta", "read_labels", "read_npz", "write_npz"]
