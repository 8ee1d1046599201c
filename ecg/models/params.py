"""Parameters of the built-in architectures, as pydantic models.

These classes import neither Keras nor the architecture modules, so the model factory
can list architectures, print their parameter schemas and validate configurations in a
fraction of a second. Every class rejects unknown keys (``extra="forbid"``); the
factory turns validation failures into :class:`ecg.errors.ConfigError` naming the valid
keys.

Units: every ``kernel_size``, ``pool_size``, ``strides``, ``dilation`` and
``patch_size`` is in **samples** of the network input (or of the feature map it
applies to), never in seconds: at 300 Hz a kernel of 15 samples spans 50 ms.
"""
from typing import Annotated, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

Activation = Literal[
    "relu", "relu6", "gelu", "silu", "swish", "hard_swish", "elu", "tanh", "leaky_relu", "mish"
]
Norm = Literal["batch", "layer", "none"]
OutputActivation = Literal["softmax", "sigmoid", "linear"]
Dropout = Annotated[float, Field(ge=0.0, lt=1.0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class ArchParams(BaseModel):
    """Base of every architecture's parameters: unknown keys are rejected.

    Args:
        output_activation: Activation of the output layer. ``"softmax"`` (default)
            gives class probabilities summing to 1 over the last axis; ``"sigmoid"``
            gives independent per-class probabilities (multi-label); ``"linear"``
            gives logits.
        head_dropout: Dropout rate applied just before the output layer.
        head_pooling: Pooling over time before a classification head: ``"avg"``
            (global average), ``"avgmax"`` (global average and global max,
            concatenated), or ``"flatten"`` (no pooling: every step's features reach
            the output layer, which keeps where in the window a feature is; for a
            head whose outputs are positions in time, such as a forecast of the next
            samples; needs a fixed input length).
    """

    model_config = ConfigDict(extra="forbid")

    output_activation: OutputActivation = "softmax"
    head_dropout: Dropout = 0.0
    head_pooling: Literal["avg", "avgmax", "flatten"] = "avg"


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- fc / cnn
class FcParams(ArchParams):
    """Plain dense network: flatten the window, hidden dense layers, output layer.

    For segmentation the same dense layers apply to every sample independently.

    Args:
        units: Width of each hidden dense layer, in order.
        activation: Activation after each hidden layer.
        dropout: Dropout rate after each hidden layer.
    """

    units: list[PositiveInt] = [64, 32]
    activation: Activation = "relu"
    dropout: Dropout = 0.0


class CnnParams(ArchParams):
    """Small CNN baseline: stages of convolution, normalization, activation, max-pooling.

    Args:
        filters: Output channels of each stage's convolution.
        kernel_size: Convolution kernel length, in samples.
        pool_size: Max-pooling size (and stride) after each stage, in samples; 1 turns
            pooling off and is required for segmentation.
        activation: Activation after each convolution.
        norm: Normalization after each convolution.
        dropout: Dropout rate after each stage.
    """

    filters: list[PositiveInt] = [16, 32, 64]
    kernel_size: PositiveInt = 7
    pool_size: PositiveInt = 2
    activation: Activation = "relu"
    norm: Norm = "batch"
    dropout: Dropout = 0.0


# --------------------------------------------------------------------------- TCN
class TcnBlock(_Block):
    """One residual TCN block: a pair of dilated convolutions and a residual sum.

    Args:
        filters: Output channels.
        kernel_size: Kernel length, in samples.
        dilation: Dilation rate of both convolutions; the block sees
            ``(kernel_size - 1) * dilation + 1`` samples per convolution.
        depth: How many times the block is repeated.
        separable: Factorize each convolution into depthwise + pointwise.
        se_ratio: Squeeze-excite reduction ratio; 0 turns squeeze-excite off.
        dropout: Dropout rate at the end of the block.
        norm: Normalization after each convolution; ``None`` takes the network's.
    """

    filters: PositiveInt
    kernel_size: PositiveInt = 3
    dilation: PositiveInt = 1
    depth: PositiveInt = 1
    separable: bool = False
    se_ratio: NonNegativeInt = 0
    dropout: Dropout = 0.0
    norm: Norm | None = None


class TcnParams(ArchParams):
    """Temporal convolutional network: an input convolution and residual dilated blocks.

    Args:
        input_filters: Channels of the input convolution.
        input_kernel: Kernel length of the input convolution, in samples.
        blocks: The residual blocks, in order (see :class:`TcnBlock`).
        causal: Causal convolutions (output at sample ``t`` sees only samples ``<= t``)
            instead of centred ones; needs ``se_ratio=0`` in every block, since
            squeeze-excite averages over the whole window.
        norm: Default normalization of every block.
        activation: Activation after each convolution.
    """

    input_filters: PositiveInt = 16
    input_kernel: PositiveInt = 7
    blocks: list[TcnBlock] = [
        TcnBlock(filters=16, dilation=1),
        TcnBlock(filters=24, dilation=2, se_ratio=4),
        TcnBlock(filters=32, dilation=4, se_ratio=4),
        TcnBlock(filters=32, dilation=8, se_ratio=4),
    ]
    causal: bool = False
    norm: Norm = "batch"
    activation: Activation = "relu6"


# --------------------------------------------------------------------------- U-Net / U-NeXt
class UnetParams(ArchParams):
    """U-Net: an encoder of convolution blocks and poolings, a decoder with skip connections.

    Args:
        dims: 1 convolves over time with leads as channels; 2 treats the input as an
            image of ``steps x leads`` with one channel, convolving over both and pooling
            over time only.
        filters: Channels of each level, from the top (full resolution) down.
        down_depth: Convolutions per encoder level.
        up_depth: Convolutions per decoder level.
        kernel_size: Kernel length over time, in samples.
        lead_kernel: Kernel width over leads (``dims=2`` only).
        pool_size: Pooling and upsampling factor between levels, in samples. The
            input length must be a multiple of ``pool_size ** (len(filters) - 1)``.
        separable: Factorize each convolution into depthwise + pointwise.
        norm: Normalization after each convolution.
        activation: Activation after each convolution.
        dropout: Dropout rate at the end of each level.
    """

    dims: Literal[1, 2] = 1
    filters: list[PositiveInt] = Field(default=[16, 32, 64], min_length=1)
    down_depth: PositiveInt = 2
    up_depth: PositiveInt = 2
    kernel_size: PositiveInt = 5
    lead_kernel: PositiveInt = 3
    pool_size: PositiveInt = 2
    separable: bool = False
    norm: Norm = "batch"
    activation: Activation = "relu6"
    dropout: Dropout = 0.0


class AutoencoderParams(ArchParams):
    """Convolutional autoencoder: an encoder down to a small latent vector and a decoder back.

    Unlike a U-Net it has no skip connections, so everything it reconstructs passes
    through ``latent`` numbers: trained on normal beats only, it reconstructs normal
    beats well and others badly (the reconstruction error is an anomaly score).

    Args:
        filters: Channels of each encoder level (the decoder mirrors them), top first;
            each level pools time by ``pool_size``. The input length must be a multiple
            of ``pool_size ** len(filters)``.
        kernel_size: Kernel length, in samples.
        pool_size: Pooling and upsampling factor between levels, in samples.
        latent: Size of the bottleneck vector.
        norm: Normalization after each convolution.
        activation: Activation after each convolution.
        output_activation: ``"linear"``: the output is a signal, not probabilities.
    """

    filters: list[PositiveInt] = Field(default=[16, 32, 32], min_length=1)
    kernel_size: PositiveInt = 7
    pool_size: PositiveInt = 2
    latent: PositiveInt = 16
    norm: Norm = "batch"
    activation: Activation = "relu"
    output_activation: OutputActivation = "linear"


class UnextParams(ArchParams):
    """U-NeXt: a U-Net whose encoder levels are MBConv blocks with squeeze-excite.

    Args:
        filters: Channels of each level, from the top (full resolution) down.
        depth: MBConv blocks per encoder level.
        expand_ratio: MBConv expansion ratio of the inner channels.
        se_ratio: Squeeze-excite reduction ratio; 0 turns it off.
        kernel_size: Kernel length, in samples.
        pool_size: Downsampling and upsampling factor between levels, in samples.
            The input length must be a multiple of ``pool_size ** (len(filters) - 1)``.
        norm: Normalization after each convolution.
        activation: Activation after each convolution.
        dropout: Dropout rate at the end of each level.
    """

    filters: list[PositiveInt] = Field(default=[16, 32, 48], min_length=1)
    depth: PositiveInt = 1
    expand_ratio: PositiveInt = 4
    se_ratio: NonNegativeInt = 4
    kernel_size: PositiveInt = 5
    pool_size: PositiveInt = 2
    norm: Norm = "batch"
    activation: Activation = "gelu"
    dropout: Dropout = 0.0


# --------------------------------------------------------------------------- EfficientNetV2 / ResNet / MobileOne
class StemParams(ArchParams):
    """Base of the architectures that open with a strided stem convolution (see
    :func:`ecg.models.blocks.stem`).

    Args:
        stem_filters: Channels of the stem convolution.
        stem_kernel: Kernel length of the stem, in samples.
        stem_strides: Stride of the stem, in samples.
    """

    stem_filters: PositiveInt = 16
    stem_kernel: PositiveInt = 7
    stem_strides: PositiveInt = 2


class _Stage(_Block):
    """Base of a stage of blocks: ``filters`` output channels, ``depth`` blocks."""

    filters: PositiveInt
    depth: PositiveInt = 1


class MBConvStage(_Stage):
    """A stage of MBConv blocks; the first block carries the stride.

    Args:
        filters: Output channels.
        depth: Number of blocks.
        kernel_size: Kernel length, in samples.
        strides: Stride of the first block, in samples.
        expand_ratio: Expansion ratio of the inner channels.
        se_ratio: Squeeze-excite reduction ratio; 0 turns it off.
        fused: Fused MBConv (one full convolution instead of expansion + depthwise).
    """

    kernel_size: PositiveInt = 3
    strides: PositiveInt = 1
    expand_ratio: PositiveInt = 4
    se_ratio: NonNegativeInt = 0
    fused: bool = False


class EfficientNetParams(StemParams):
    """EfficientNetV2: a strided stem, fused and plain MBConv stages, a 1x1 head conv.

    Args:
        stem_filters: Channels of the stem convolution.
        stem_kernel: Kernel length of the stem, in samples.
        stem_strides: Stride of the stem, in samples.
        stages: The MBConv stages (see :class:`MBConvStage`).
        head_filters: Channels of the final pointwise convolution; 0 skips it.
        norm: Normalization after each convolution.
        activation: Activation after each convolution.
    """

    stem_kernel: PositiveInt = 5
    stages: list[MBConvStage] = Field(default=[
        MBConvStage(filters=16, strides=1, expand_ratio=1, fused=True),
        MBConvStage(filters=24, strides=2, fused=True),
        MBConvStage(filters=32, strides=2, se_ratio=4),
        MBConvStage(filters=48, strides=2, se_ratio=4),
    ], min_length=1)
    head_filters: NonNegativeInt = 64
    norm: Norm = "batch"
    activation: Activation = "silu"


class ResnetStage(_Stage):
    """A stage of residual blocks; the first block carries the stride.

    Args:
        filters: Output channels (for bottleneck blocks: the inner channels times
            ``bottleneck_ratio``).
        depth: Number of blocks.
        strides: Stride of the first block, in samples.
    """

    strides: PositiveInt = 1


class ResnetParams(StemParams):
    """1-D ResNet with basic (two convolutions) or bottleneck (1x1, kxk, 1x1) blocks.

    Args:
        stem_filters: Channels of the stem convolution.
        stem_kernel: Kernel length of the stem, in samples.
        stem_strides: Stride of the stem, in samples.
        stem_pool: Max-pool of size and stride 2 after the stem.
        stages: The residual stages (see :class:`ResnetStage`).
        block: ``"basic"`` or ``"bottleneck"``.
        bottleneck_ratio: Output channels over inner channels of a bottleneck block.
        kernel_size: Kernel length of the blocks' convolutions, in samples.
        norm: Normalization after each convolution.
        activation: Activation after each convolution.
    """

    stem_pool: bool = True
    stages: list[ResnetStage] = Field(default=[
        ResnetStage(filters=16, depth=2, strides=1),
        ResnetStage(filters=32, depth=2, strides=2),
        ResnetStage(filters=64, depth=2, strides=2),
    ], min_length=1)
    block: Literal["basic", "bottleneck"] = "basic"
    bottleneck_ratio: PositiveInt = 4
    kernel_size: PositiveInt = 3
    norm: Norm = "batch"
    activation: Activation = "relu"


class MobileOneStage(_Stage):
    """A stage of MobileOne blocks (depthwise then pointwise); the first carries the stride.

    Args:
        filters: Output channels.
        depth: Number of blocks.
        strides: Stride of the first block, in samples.
        dilation: Dilation rate of the depthwise convolutions.
    """

    strides: PositiveInt = 2
    dilation: PositiveInt = 1


class MobileOneParams(ArchParams):
    """MobileOne: over-parameterised branches at training time, one convolution at inference.

    Args:
        stem_filters: Channels of the stem block (stride 2).
        stages: The stages (see :class:`MobileOneStage`).
        kernel_size: Kernel length of the stem and depthwise convolutions, in samples;
            must be odd so the branches can be folded.
        num_branches: Parallel ``kernel_size`` conv + batch-norm branches of each block
            during training (MobileOne's over-parameterisation factor ``k``).
        se_ratio: Squeeze-excite reduction ratio after each block pair; 0 turns it off.
        activation: Activation after each block.
    """

    stem_filters: PositiveInt = 16
    stages: list[MobileOneStage] = Field(default=[
        MobileOneStage(filters=24, depth=1),
        MobileOneStage(filters=32, depth=2),
        MobileOneStage(filters=48, depth=2),
    ], min_length=1)
    kernel_size: PositiveInt = 3
    num_branches: PositiveInt = 2
    se_ratio: NonNegativeInt = 0
    activation: Activation = "relu"

    @field_validator("kernel_size")
    @classmethod
    def _odd_kernel(cls, value):
        if value % 2 == 0:
            raise ValueError(f"must be odd so that branches fold into one kernel; received {value}")
        return value


# --------------------------------------------------------------------------- token mixers
class ConformerParams(ArchParams):
    """Conformer: convolution subsampling, then blocks of feed-forward, self-attention,
    convolution module and feed-forward (Macaron style).

    Args:
        patch_size: Stride (and kernel) of the subsampling convolution, in samples; the
            segmentation head upsamples back by the same factor, so the input length
            must be a multiple of it.
        dim: Model width (channels of every token).
        depth: Number of Conformer blocks.
        num_heads: Attention heads; each has ``dim // num_heads`` dimensions.
        ff_ratio: Hidden width of the feed-forward modules over ``dim``.
        conv_kernel: Kernel length of the depthwise convolution module, in tokens.
        dropout: Dropout rate inside the blocks.
    """

    patch_size: PositiveInt = 4
    dim: PositiveInt = 32
    depth: PositiveInt = 2
    num_heads: PositiveInt = 2
    ff_ratio: PositiveInt = 4
    conv_kernel: PositiveInt = 15
    dropout: Dropout = 0.0

    @model_validator(mode="after")
    def _heads_divide_dim(self):
        if self.dim % self.num_heads:
            raise ValueError(f"dim={self.dim} must be a multiple of num_heads={self.num_heads}")
        return self


class MetaFormerStage(_Block):
    """A MetaFormer stage: a strided patch embedding then ``depth`` blocks.

    Args:
        dim: Token width.
        depth: Number of blocks.
        patch_size: Stride (and kernel) of the stage's patch embedding, in samples.
        mixer: Token mixer: ``"pooling"`` (PoolFormer) or ``"attention"``.
    """

    dim: PositiveInt
    depth: PositiveInt = 1
    patch_size: PositiveInt = 2
    mixer: Literal["pooling", "attention"] = "pooling"


class MetaFormerParams(ArchParams):
    """MetaFormer: stages of (norm, token mixer, residual) + (norm, MLP, residual) blocks.

    Args:
        stages: The stages (see :class:`MetaFormerStage`).
        pool_size: Window of the pooling token mixer, in tokens.
        num_heads: Heads of the attention token mixer.
        mlp_ratio: Hidden width of the channel MLP over the token width.
        activation: Activation of the channel MLP.
        dropout: Dropout rate inside the blocks.
    """

    stages: list[MetaFormerStage] = Field(default=[
        MetaFormerStage(dim=16, patch_size=4),
        MetaFormerStage(dim=32, patch_size=2),
        MetaFormerStage(dim=48, patch_size=2, mixer="attention"),
    ], min_length=1)
    pool_size: PositiveInt = 3
    num_heads: PositiveInt = 2
    mlp_ratio: PositiveInt = 4
    activation: Activation = "gelu"
    dropout: Dropout = 0.0


class TsMixerParams(ArchParams):
    """TSMixer: all-MLP blocks alternating mixing over time and mixing over channels.

    Needs a fixed input length (the time-mixing layers have ``steps`` inputs).

    Args:
        dim: Channels after the input projection; ``None`` keeps the input's.
        depth: Number of mixer blocks.
        ff_dim: Hidden width of the channel-mixing MLP.
        norm: Normalization before each mixing layer.
        activation: Activation of the mixing layers.
        dropout: Dropout rate after each mixing layer.
    """

    dim: PositiveInt | None = 16
    depth: PositiveInt = 2
    ff_dim: PositiveInt = 32
    norm: Norm = "batch"
    activation: Activation = "relu"
    dropout: Dropout = 0.0


# --------------------------------------------------------------------------- layer spec
def _strip_layer_suffix(data):
    if isinstance(data, dict) and isinstance(data.get("type"), str) and data["type"].endswith("Layer"):
        return {**data, "type": data["type"][: -len("Layer")]}
    return data


class _SpecLayer(_Block):
    kind: ClassVar[str] = "other"


class ConvBNReLU(_SpecLayer):
    """Convolution (no bias), batch normalization, ReLU.

    ``kernel_size`` and ``stride`` may be given as ``[height, width]`` as in TI's 2-D
    specs: height runs over time (samples) and width must be 1. ``padding`` is the
    number of zeros added at each end; ``None`` pads to keep the length (``"same"``).
    ``in_channels`` is optional and checked against the actual input when given.
    """

    kind: ClassVar[str] = "conv"
    type: Literal["ConvBNReLU"]
    out_channels: PositiveInt
    kernel_size: PositiveInt | tuple[PositiveInt, PositiveInt] = 3
    stride: PositiveInt | tuple[PositiveInt, PositiveInt] = 1
    padding: NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt] | None = None
    groups: PositiveInt = 1
    in_channels: PositiveInt | None = None


class DWConvBNReLU(_SpecLayer):
    """Depthwise convolution (one kernel per channel), batch normalization, ReLU."""

    kind: ClassVar[str] = "conv"
    type: Literal["DWConvBNReLU"]
    kernel_size: PositiveInt | tuple[PositiveInt, PositiveInt] = 3
    stride: PositiveInt | tuple[PositiveInt, PositiveInt] = 1
    padding: NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt] | None = None
    in_channels: PositiveInt | None = None
    out_channels: PositiveInt | None = None


class PWConvBNReLU(_SpecLayer):
    """Pointwise (kernel 1) convolution, batch normalization, ReLU."""

    kind: ClassVar[str] = "conv"
    type: Literal["PWConvBNReLU"]
    out_channels: PositiveInt
    in_channels: PositiveInt | None = None


class MaxPool(_SpecLayer):
    """Max-pooling over time; ``stride`` defaults to ``kernel_size``."""

    kind: ClassVar[str] = "pool"
    type: Literal["MaxPool"]
    kernel_size: PositiveInt | tuple[PositiveInt, PositiveInt] = 2
    stride: PositiveInt | tuple[PositiveInt, PositiveInt] | None = None


class AvgPool(_SpecLayer):
    """Average pooling over time; ``stride`` defaults to ``kernel_size``."""

    kind: ClassVar[str] = "pool"
    type: Literal["AvgPool"]
    kernel_size: PositiveInt | tuple[PositiveInt, PositiveInt] = 2
    stride: PositiveInt | tuple[PositiveInt, PositiveInt] | None = None


class GlobalAvgPool(_SpecLayer):
    """Average over time: ``(batch, steps, channels) -> (batch, channels)``."""

    type: Literal["GlobalAvgPool"]


class Reshape(_SpecLayer):
    """Flatten to ``(batch, features)``; only ``ndim=2`` is meaningful."""

    type: Literal["Reshape"]
    ndim: Literal[2] = 2


class Linear(_SpecLayer):
    """Dense layer; ``out_features`` omitted on the last layer means ``num_classes``."""

    kind: ClassVar[str] = "linear"
    type: Literal["Linear"]
    out_features: PositiveInt | None = None
    in_features: PositiveInt | None = None


class BatchNorm(_SpecLayer):
    """Batch normalization over channels."""

    type: Literal["BatchNorm"]
    num_features: PositiveInt | None = None


class DropoutLayer(_SpecLayer):
    """Dropout with rate ``p``."""

    type: Literal["Dropout"]
    p: Dropout = 0.5


class ReLU(_SpecLayer):
    """ReLU activation."""

    type: Literal["ReLU"]


SpecLayer = Annotated[
    Union[ConvBNReLU, DWConvBNReLU, PWConvBNReLU, MaxPool, AvgPool, GlobalAvgPool, Reshape,
          Linear, BatchNorm, DropoutLayer, ReLU],
    Field(discriminator="type"),
]


class LayerSpecParams(ArchParams):
    """A network given as a list of layer dicts, in the style of TI's layer-spec models.

    Each dict has a ``type`` (``ConvBNReLU``, ``DWConvBNReLU``, ``PWConvBNReLU``,
    ``MaxPool``, ``AvgPool``, ``GlobalAvgPool``, ``Reshape``, ``Linear``, ``BatchNorm``,
    ``Dropout``, ``ReLU``; a ``Layer`` suffix as in TI's names is accepted) and that
    type's keys. If the list does not end with a ``Linear`` layer producing
    ``num_classes`` values, a global average pooling (when needed) and one is appended.
    The output activation is applied after it.

    Args:
        layers: The layers, in order.
        npu_check: Check the NPU rules (channels multiple of 4, kernel height <= 7,
            pool <= 4, groups 1 or equal to channels, final dense fed by >= 16
            values) before building; violations raise ``ConfigError`` naming the layer.
    """

    layers: list[SpecLayer] = Field(min_length=1)
    npu_check: bool = False

    @field_validator("layers", mode="before")
    @classmethod
    def _accept_ti_names(cls, value):
        return [_strip_layer_suffix(item) for item in value] if isinstance(value, list) else value
