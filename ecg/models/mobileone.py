"""MobileOne (``mobileone``), 1-D, with re-parameterisable blocks.

Vasu et al., "MobileOne: An Improved One millisecond Mobile Backbone", CVPR 2023.

During training every :class:`MobileOneBlock` sums ``num_branches`` convolution +
batch-norm branches, a 1x1 convolution + batch-norm "scale" branch and, when shapes
allow, a batch-norm-only identity branch. These are all linear in the input at
inference time, so :func:`reparameterize` folds each block into one convolution with
a bias, giving the same outputs with a fraction of the work.
"""
import keras
import numpy as np
from keras import layers, ops

from ecg.errors import ConfigError
from ecg.models import blocks
from ecg.models.factory import architecture_params


@keras.saving.register_keras_serializable(package="ecg")
class MobileOneBlock(layers.Layer):
    """A MobileOne block: over-parameterised branches, or their folded convolution.

    Args:
        filters: Output channels (for ``depthwise``, must equal the input channels).
        kernel_size: Odd kernel length, in samples.
        strides: Stride, in samples.
        dilation: Dilation rate (1 when ``strides > 1``).
        depthwise: One kernel per channel instead of a full convolution.
        num_branches: Parallel ``kernel_size`` conv + batch-norm branches.
        inference_mode: Hold only the folded convolution (see :func:`reparameterize`).

    Input shape:
        ``(batch, steps, channels)``.

    Output shape:
        ``(batch, ceil(steps / strides), filters)``; the input is zero-padded by
        ``dilation * (kernel_size // 2)`` samples at both ends.
    """

    def __init__(self, filters, kernel_size=3, strides=1, dilation=1, depthwise=False,
                 num_branches=1, inference_mode=False, **kwargs):
        super().__init__(**kwargs)
        if kernel_size % 2 == 0:
            raise ConfigError(f"MobileOneBlock needs an odd kernel_size. Received: kernel_size={kernel_size}")
        if strides > 1 and dilation > 1:
            raise ConfigError(
                f"MobileOneBlock cannot combine strides and dilation. Received: strides={strides}, "
                f"dilation={dilation}"
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.dilation = dilation
        self.depthwise = depthwise
        self.num_branches = num_branches
        self.inference_mode = inference_mode
        self.padding = dilation * (kernel_size // 2)

    def _conv(self, kernel_size, use_bias=False):
        if self.depthwise:
            return layers.DepthwiseConv1D(kernel_size, strides=self.strides, padding="valid",
                                          dilation_rate=self.dilation, use_bias=use_bias)
        return layers.Conv1D(self.filters, kernel_size, strides=self.strides, padding="valid",
                             dilation_rate=self.dilation, use_bias=use_bias)

    def build(self, input_shape):
        channels = input_shape[-1]
        if self.depthwise and channels != self.filters:
            raise ConfigError(
                f"a depthwise MobileOneBlock keeps its channels; filters={self.filters} but the "
                f"input has {channels}"
            )
        padded = (input_shape[0], None if input_shape[1] is None else input_shape[1] + 2 * self.padding,
                  channels)
        self.fused = self.branches = self.scale = self.identity = None
        if self.inference_mode:
            self.fused = self._conv(self.kernel_size, use_bias=True)
            self.fused.build(padded)
            return
        self.branches = [(self._conv(self.kernel_size), layers.BatchNormalization())
                         for _ in range(self.num_branches)]
        for conv, norm in self.branches:
            conv.build(padded)
            norm.build(conv.compute_output_shape(padded))
        if self.kernel_size > 1:
            self.scale = (self._conv(1), layers.BatchNormalization())
            self.scale[0].build(input_shape)
            self.scale[1].build(self.scale[0].compute_output_shape(input_shape))
        if channels == self.filters and self.strides == 1:
            self.identity = layers.BatchNormalization()
            self.identity.build(input_shape)

    def call(self, inputs, training=None):
        padded = ops.pad(inputs, [[0, 0], [self.padding, self.padding], [0, 0]])
        if self.inference_mode:
            return self.fused(padded)
        outputs = [norm(conv(padded), training=training) for conv, norm in self.branches]
        if self.scale is not None:
            outputs.append(self.scale[1](self.scale[0](inputs), training=training))
        if self.identity is not None:
            outputs.append(self.identity(inputs, training=training))
        return outputs[0] if len(outputs) == 1 else ops.sum(ops.stack(outputs), axis=0)

    def compute_output_shape(self, input_shape):
        steps = input_shape[1]
        if steps is not None:
            steps = (steps - 1) // self.strides + 1
        return (input_shape[0], steps, self.filters)

    def macs(self, input_shape, output_shape):
        """Multiply-accumulates of one forward pass per example (for ``ecg models describe``)."""
        taps = self.kernel_size if self.inference_mode else (
            self.num_branches * self.kernel_size + (self.kernel_size > 1))
        per_output = taps * (1 if self.depthwise else input_shape[-1])
        return int(output_shape[1] * self.filters * per_output)

    def fused_weights(self):
        """The ``[kernel, bias]`` of the one convolution equal to all branches at inference.

        Each branch's batch norm ``gamma * (y - mean) / sqrt(var + eps) + beta`` is
        folded into its kernel and bias; the 1x1 kernel is zero-padded to
        ``kernel_size`` at its centre tap; the identity is a kernel with 1 at the
        centre tap of each channel. The sum of these kernels and biases is returned.
        """
        if self.inference_mode:
            return self.fused.get_weights()
        centre = self.kernel_size // 2
        kernel, bias = 0.0, 0.0
        pairs = [(ops.convert_to_numpy(conv.kernel), norm) for conv, norm in self.branches]
        if self.scale is not None:
            small = ops.convert_to_numpy(self.scale[0].kernel)
            padded = np.zeros((self.kernel_size,) + small.shape[1:], small.dtype)
            padded[centre] = small[0]
            pairs.append((padded, self.scale[1]))
        if self.identity is not None:
            eye = np.zeros(pairs[0][0].shape, "float32")
            channels = np.arange(self.filters)
            eye[centre, channels, 0 if self.depthwise else channels] = 1.0
            pairs.append((eye, self.identity))
        for branch_kernel, norm in pairs:
            branch_kernel, branch_bias = _fold_batch_norm(branch_kernel, norm, self.depthwise)
            kernel, bias = kernel + branch_kernel, bias + branch_bias
        return [kernel.astype("float32"), bias.astype("float32")]

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      dilation=self.dilation, depthwise=self.depthwise,
                      num_branches=self.num_branches, inference_mode=self.inference_mode)
        return config


def _fold_batch_norm(kernel, norm, depthwise):
    """Fold batch norm ``norm`` into ``kernel``; return the folded kernel and its bias."""
    gamma, beta, mean, variance = (ops.convert_to_numpy(weight).astype("float64") for weight in (
        norm.gamma, norm.beta, norm.moving_mean, norm.moving_variance))
    factor = gamma / np.sqrt(variance + norm.epsilon)
    scale = factor[None, :, None] if depthwise else factor[None, None, :]
    return kernel.astype("float64") * scale, beta - mean * factor


def reparameterize(model):
    """Return a copy of ``model`` with every :class:`MobileOneBlock` folded into one convolution.

    Use it after training, for inference and export: outputs equal the original
    model's in inference mode (to float32 rounding), with one convolution per block.

    Args:
        model: A Keras functional model (e.g. built by :func:`mobileone`).

    Returns:
        A new ``keras.Model``; ``model`` is unchanged.

    Example:
        >>> import keras, numpy as np
        >>> net = mobileone(keras.Input((64, 1)), {"stages": [{"filters": 8}], "stem_filters": 4}, 2)
        >>> x = np.random.default_rng(0).normal(size=(2, 64, 1)).astype("float32")
        >>> np.allclose(net.predict(x, verbose=0), reparameterize(net).predict(x, verbose=0), atol=1e-5)
        True
    """
    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, MobileOneBlock):
            config["inference_mode"] = True
        return layer.__class__.from_config(config)

    fused = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if not layer.weights:
            continue
        weights = layer.fused_weights() if isinstance(layer, MobileOneBlock) else layer.get_weights()
        fused.get_layer(layer.name).set_weights(weights)
    return fused


def mobileone(inputs, params, num_classes, task="classification"):
    """MobileOne: a strided stem block, stages of depthwise + pointwise blocks, the head.

    Train it as built, then call :func:`reparameterize` for inference.

    Args:
        inputs: ``keras.Input`` of shape ``(batch, steps, channels)``.
        params: :class:`ecg.models.params.MobileOneParams` (or a dict of its keys).
        num_classes: Number of classes.
        task: ``"classification"``.

    Input shape:
        ``(batch, steps, channels)``; ``steps`` may be variable.

    Output shape:
        ``(batch, num_classes)``.

    Example:
        >>> import keras
        >>> net = mobileone(keras.Input((None, 1)), {"stages": [{"filters": 8}]}, 3)
        >>> net.output_shape
        (None, 3)
    """
    params = architecture_params("mobileone", params, task, ("classification",))
    x = MobileOneBlock(params.stem_filters, params.kernel_size, strides=2,
                       num_branches=params.num_branches)(inputs)
    x = blocks.activation(x, params.activation)

    def depthwise_pointwise(x, stage, strides):
        x = MobileOneBlock(x.shape[-1], params.kernel_size, strides=strides,
                           dilation=stage.dilation if strides == 1 else 1, depthwise=True,
                           num_branches=params.num_branches)(x)
        x = blocks.activation(x, params.activation)
        x = MobileOneBlock(stage.filters, 1, num_branches=params.num_branches)(x)
        x = blocks.activation(x, params.activation)
        return blocks.squeeze_excite(x, params.se_ratio, params.activation)

    x = blocks.stages(x, params.stages, depthwise_pointwise)
    return blocks.head_model(inputs, x, params, num_classes, task, "mobileone")
