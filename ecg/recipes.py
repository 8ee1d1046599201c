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
        ``(pipeline, model)``: run it with ``pipeline.run(batch_size=..., n_epochs=1)``;
        the pipeline variable ``"prediction"`` then holds one probability vector per
        record (segments averaged) and ``"records"`` the record names in order.
    """
    from batchflow import B, V

    from ecg.models.keras_model import KerasBaseModel

    model = KerasBaseModel({"path": str(model_path)})
    pipeline = (dataset.p
                .import_model(model_name, model)
                .init_variable("prediction", [])
                .init_variable("records", [])
                .load(fmt="wfdb", components=list(components))
                .update_variable("records", B("indices"), mode="e"))
    pipeline = apply_recipe(pipeline, model.config.preprocess)
    pipeline = pipeline.predict_on_batch(model_name, save_to=V("prediction", mode="e"), aggregate="mean")
    return pipeline, model
