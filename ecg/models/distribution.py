"""Data-parallel training across devices through the Keras 3 distribution API.

:func:`data_parallel` sets Keras' ``DataParallel`` distribution: every device holds a
copy of the weights, each batch is split along its first axis across the devices, and
the gradients are averaged, so a step on ``n`` devices is the step of one device on the
same global batch (the same loss curve, to float rounding). It must be set before the
network is built (a :class:`~ecg.models.KerasBaseModel` builds it from the first
batch), and the global batch must be a multiple of the number of devices
(``drop_last=True``).

On JAX, Keras distributes over ``jax.devices()``: the GPUs of the machine, or CPU
devices made with ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (how the tests
run it). Keras' distribution API works with the JAX backend only.

Example::

    # KERAS_BACKEND=jax python train.py on a machine with 4 GPUs
    from ecg.models.distribution import data_parallel
    data_parallel()                     # all 4 GPUs; batch_size a multiple of 4
    ...build the pipeline with KerasBaseModel and train as usual...
"""


def data_parallel(devices=None):
    """Train every Keras model built from now on data-parallel over ``devices``.

    Parameters
    ----------
    devices : int or list of str, optional
        The devices (``["gpu:0", "gpu:1"]``), or how many of the first ones; by
        default every device Keras lists (``keras.distribution.list_devices()``).

    Returns
    -------
    keras.distribution.DataParallel
        The distribution now set (``keras.distribution.set_distribution(None)`` ends it).

    Raises
    ------
    ConfigError
        The backend is not JAX, or fewer devices exist than asked for.

    Examples
    --------
    >>> distribution = data_parallel(2)                    # doctest: +SKIP
    >>> distribution.device_mesh.shape                     # doctest: +SKIP
    (2,)
    """
    import keras

    from ecg.errors import ConfigError

    if keras.backend.backend() != "jax":
        raise ConfigError(f"data-parallel training uses Keras' distribution API, which needs the JAX backend "
                          f"(KERAS_BACKEND=jax); the backend is {keras.backend.backend()!r}")
    available = keras.distribution.list_devices()
    if devices is None:
        devices = available
    elif isinstance(devices, int) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise ConfigError(f"Expected 1 to {len(available)} devices (those Keras lists: {available}). "
                              f"Received: devices={devices}.")
        devices = available[:devices]
    distribution = keras.distribution.DataParallel(devices=list(devices))
    keras.distribution.set_distribution(distribution)
    return distribution


def split_batch(data):
    """``data`` (arrays, or nested lists/tuples of them) laid out along the current distribution's batch axis.

    What ``keras.Model.train_on_batch`` does to its inputs under a distribution, with the
    public API; without a distribution ``data`` is returned as it is.
    """
    import keras

    distribution = keras.distribution.distribution()
    if distribution is None:
        return data

    def place(value):
        if value is None:
            return None
        return keras.distribution.distribute_tensor(value, distribution.get_data_layout(value.shape))

    return keras.tree.map_structure(place, data)
