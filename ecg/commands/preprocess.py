"""``ecg preprocess``: run a pipeline's load and preprocessing over a dataset into a sharded cache, on Dask.

The input is a task config (``pipelines/cinc2017.yaml``: its dataset, the records of its
splits and its ``prepare`` recipe) or a recipe file (a YAML or JSON list of recipe steps,
or a mapping with ``recipe`` and optionally ``load``) with ``--records``. The records are
cut into partitions of ``--partition-size``; each partition runs as one Dask task on a
``LocalCluster`` of ``--workers`` processes (default: one per core) or on the scheduler
at ``--scheduler``, and writes one shard. ``--workers 0`` runs in this process, without
Dask. The cache is the same, byte for byte, however many workers write it.

A killed worker's partitions run again elsewhere, and a run that stopped is finished by
running the same command again (finished partitions are skipped). Bad records are
skipped and listed with the reason, as ``load(on_error="skip")`` does.

Training reads the cache back with ``load(src=CACHE, fmt="shards")``
(:class:`ecg.data.shards.ShardedCache`), locally or from object storage.

Exit codes: 0 done (also when records were skipped: the summary lists them); 2 an
invalid config or recipe, a cache folder holding another plan, or another ecg error.
"""
EXAMPLE = """examples:
  ecg preprocess pipelines/cinc2017.yaml --mirror ../shared/data/mirror --out runs/cinc2017-cache
  ecg preprocess pipelines/cinc2017.yaml --set data.limit=40 --out runs/cache --workers 2
  ecg preprocess pipelines/cinc2017.yaml --out s3://bucket/cinc2017-cache --scheduler tcp://10.0.0.5:8786
  ecg preprocess recipe.yaml --records '../shared/data/fixture/cinc2017/*.hea' \\
      --labels ../shared/data/fixture/cinc2017/REFERENCE.csv --out runs/cache --workers 0
"""


def register(subparsers):
    import argparse

    from ecg.commands.common import add_shared

    parser = subparsers.add_parser("preprocess", help="preprocess a dataset into a sharded cache, on a Dask cluster",
                                   description=__doc__, epilog=EXAMPLE,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="task config (pipelines/cinc2017.yaml) or recipe file (YAML or JSON)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler")
    where.add_argument("--workers", type=int, metavar="N",
                       help="workers of the LocalCluster (default: one per core); 0: in this process, no Dask")
    parser.add_argument("--records", help="with a recipe file: a glob of the records' headers ('dir/*.hea')")
    parser.add_argument("--labels", help="with a recipe file: a label table (REFERENCE.csv) for the index")
    parser.add_argument("--partition-size", type=int, default=None, metavar="N",
                        help="records per partition and shard (default 256)")
    parser.add_argument("--mirror", help="task config: PhysioNet mirror (same as --set data.mirror=...)")
    add_shared(parser, "cache folder, local or an fsspec URL (s3://bucket/cache)", out_required=True, sets="config")
    parser.set_defaults(func=main)


def read_definition(path, records=None, labels=None, sets=(), mirror=None):
    """``(records, recipe, load, labels)`` of a task config or a recipe file.

    Raises
    ------
    ConfigError
        Not a config of a task with one label per record, a bad recipe file, or options
        that do not go with the kind of file (``--records`` with a config...).
    """
    from pathlib import Path

    import yaml

    from ecg.errors import ConfigError

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"not found: {path} (give a task config or a recipe file)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML or JSON: {exc}") from None
    if isinstance(data, dict) and "task" in data:
        if records or labels:
            raise ConfigError("--records and --labels go with a recipe file; a task config names its dataset")
        return _from_config(path, list(sets) + ([f"data.mirror={mirror}"] if mirror else []))
    if sets or mirror:
        raise ConfigError("--set and --mirror go with a task config, not a recipe file")
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"recipe", "load"})
        if unknown:
            raise ConfigError(f"{path}: unknown keys {unknown}; a recipe file holds 'recipe' and optionally 'load' "
                              "(or is a list of recipe steps)")
        recipe, load = data.get("recipe"), data.get("load")
    elif isinstance(data, list):
        recipe, load = data, None
    else:
        raise ConfigError(f"{path} holds neither a task config nor a recipe (a list of steps)")
    if not records:
        raise ConfigError("a recipe file needs --records 'dir/*.hea'")
    from ecg.data.dataset import EcgDataset

    table = None
    if labels:
        from ecg.io import read_labels

        table = read_labels(labels)
    return EcgDataset(path=records), recipe, load, table


def _from_config(path, sets):
    from ecg.errors import ConfigError
    from ecg.tasks.base import read_config

    module, cfg = read_config(path, sets)
    if not getattr(module, "RECORD_LABELS", False) or not hasattr(module, "prepare_recipe"):
        raise ConfigError(f"{path}: ecg preprocess caches the records of tasks with one label per record (task "
                          f"'rhythm'), not task {cfg.task!r}: give a recipe file with --records instead")
    spec = module.dataset_def(cfg)
    chosen = set()
    for split in spec.splits:
        chosen.update(str(ix) for ix in module.split_subset(spec, split, cfg.data.limit).indices)
    index = spec.dataset.index
    records = {str(ix): index.get_fullpath(ix) for ix in spec.dataset.indices if str(ix) in chosen}
    labels = spec.labels["label"].astype(str).to_dict()
    return records, module.prepare_recipe(cfg), dict(spec.load_kwargs), labels


def main(args):
    from ecg.data.cluster import PARTITION_SIZE, preprocess

    records, recipe, load, labels = read_definition(args.config, args.records, args.labels, args.set, args.mirror)
    log = (lambda *a, **k: None) if args.quiet else (lambda text: print(text, flush=True))
    preprocess(records, recipe, args.out, load=load, labels=labels,
               partition_size=args.partition_size or PARTITION_SIZE, scheduler=args.scheduler,
               n_workers=args.workers, progress=False if args.quiet else None, log=log)
    return 0
