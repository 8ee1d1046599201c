"""EcgBatch: the batch class of ecg pipelines."""
from ecg.batch.augmentation import AugmentationMixin
from ecg.batch.base import EcgBatchBase
from ecg.batch.cardio import CardioMixin
from ecg.batch.features import FeaturesMixin
from ecg.batch.io import IOMixin
from ecg.batch.labels import LabelsMixin
from ecg.batch.leads import LeadsMixin
from ecg.batch.models import ModelMixin
from ecg.batch.preprocessing import PreprocessingMixin
from ecg.batch.spectral import SpectralMixin


class EcgBatch(IOMixin, PreprocessingMixin, LeadsMixin, LabelsMixin, AugmentationMixin, FeaturesMixin, ModelMixin,
               CardioMixin, SpectralMixin, EcgBatchBase):
    __doc__ = EcgBatchBase.__doc__
