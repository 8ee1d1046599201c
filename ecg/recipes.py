"""Preprocessing recipes: the actions a saved model needs before it predicts.

A recipe is a list of one-key dicts ``{"action_name": {kwargs}}``, e.g.::

    [{"band_pass_signals": {"low": 0.5, "high": 40}},
     {"split_signals": {"length": 3000, "step": 1500, "pad": True}}]

It is stored in the model config (``KerasModelConfig.preprocess``) so that
``ecg predict`` and :func:`predict_pipeline` prepare new records exactly as the
model expects, without the user repeating the training script's steps.
"""
from ecg.errors import ConfigError


def recipe_steps(recipe):
    """Validate a recipe; return it as a list of ``(action, kwargs)`` pairs."""
    from ecg.batch import EcgBatch

    steps = []
    for i, step in enumerate(recipe or []):
        if not isinstance(step, dict) or len(step) != 1:
            raise ConfigError(f"preprocess step {i} must be a one-key dict {{action: {{kwargs}}}}, got {step!r}")
        (name, kwargs), = step.items()
        if not callable(getattr(EcgBatch, name, None)):
            raise ConfigError(f"preprocess step {i}: EcgBatch has no action {name!r}")
        if kwargs is not None and not isinstance(kwargs, dict):
            raise ConfigError(f"preprocess step {i}: arguments of {name!r} must be a dict, got {kwargs!r}")
        steps.append((name, dict(kwargs or {})))
    return steps


def apply_recipe(pipeline, recipe):
    """Append the recipe's actions to ``pipeline``; return the pipeline."""
    for name, kwargs in recipe_steps(recipe):
        pipeline = getattr(pipeline, name)(**kwargs)
    return pipeline


def predict_pipeline(model_path, dataset, model_name="model", batch_size=64, components=("signal", "meta")):
    """A pipeline that loads records, applies the saved model's recipe and predicts.

    Parameters
    ----------
    model_path : str
        Folder written by ``KerasBaseModel.save``.
    dataset : EcgDataset
        Records to predict.

    Returns
    -------
    tuple
        ``(pipeline, model)``: run it with ``pipeline.run(batch_size=..., n_epochs=1)``
        (``prefetch`` allowed); the pipeline variable ``"prediction"`` then maps each
        record to its probability vector (segments averaged).
    """
    from batchflow import V

    from ecg.models.keras_model import KerasBaseModel

    model = KerasBaseModel({"path": str(model_path)})
    pipeline = (dataset.p
                .import_model(model_name, model)
                .init_variable("prediction", {})
                .load(fmt="wfdb", components=list(components)))
    pipeline = apply_recipe(pipeline, model.config.preprocess)
    pipeline = pipeline.predict_on_batch(model_name, save_to=V("prediction", mode="u"), aggregate="mean",
                                         by_record=True)
    return pipeline, model


def predict_dataset(model_path, dataset, batch_size=64):
    """Predict every record of ``dataset`` with a saved model and its recipe.

    Returns
    -------
    tuple
        ``(records, probabilities, classes)``: record names in dataset order, float32
        ``(n_records, n_classes)`` probabilities (segments averaged), class names.
    """
    import numpy as np

    pipeline, model = predict_pipeline(model_path, dataset)
    pipeline.run(batch_size=min(batch_size, len(dataset)), n_epochs=1, shuffle=False, drop_last=False)
    predictions = pipeline.v("prediction")
    records = [ix for ix in dataset.indices if ix in predictions]
    probabilities = np.stack([predictions[ix] for ix in records])
    classes = model.classes or [str(i) for i in range(probabilities.shape[1])]
    return records, probabilities, list(classes)
