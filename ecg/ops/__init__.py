"""Pure numpy/scipy kernels: arrays and sampling rates in, arrays out.

Time is the last axis of every signal array (any leading shape), rates are in Hz.
``ecg.ops.normalize`` and ``ecg.ops.resample`` stay the modules (their functions of the
same name are ``ecg.ops.normalize.normalize`` and ``ecg.ops.resample.resample``).
"""
from ecg.ops.augment import (amplitude_scale, baseline_wander, cutout, emg_noise, gaussian_noise,
                             lead_dropout, polarity_flip, powerline_noise, random_crop, time_stretch)
from ecg.ops.filters import band_pass, fir_band_pass, median_baseline, notch, remove_baseline
from ecg.ops.labels import binarize, one_hot, rename
from ecg.ops.normalize import clip
from ecg.ops.quality import flat_fraction, noise_level, quality_flags, saturation_fraction
from ecg.ops.resample import resample_indices, resample_ratio, resampled_length
from ecg.ops.rpeaks import PanTompkins, PanTompkinsConf, heart_rate, r_peaks, rr_intervals
from ecg.ops.segments import crop, pad, random_split, split, take_windows, window_starts

__all__ = [
    "amplitude_scale", "band_pass", "baseline_wander", "binarize", "clip", "crop", "cutout",
    "emg_noise", "fir_band_pass", "flat_fraction", "gaussian_noise", "heart_rate", "lead_dropout",
    "median_baseline", "noise_level", "notch", "one_hot", "pad", "PanTompkins",
    "PanTompkinsConf", "polarity_flip", "powerline_noise", "quality_flags", "r_peaks",
    "random_crop", "random_split", "remove_baseline", "rename", "resample_indices",
    "resample_ratio", "resampled_length", "rr_intervals", "saturation_fraction", "split",
    "take_windows", "time_stretch", "window_starts",
]
