"""All command-line flags, in one module (STYLE.md §3).

Every field of the config dataclasses is a flag of the same name (``--lambda_wd``, ``--num_stacks``,
``--crop_margin`` …), with the dataclass default. A field name that appears in two sections (for example
``input_size`` in the model and the pipeline, or ``seed``) is one flag that sets both, so they can never
disagree. Entry points call :func:`define_flags` once and :func:`config_from_flags` after parsing; library
code receives the frozen :class:`~awh_tf.config.Config` and never reads ``FLAGS``.

Flag files: ``--flagfile=configs/x.cfg``; a file may include a base with ``--flagfile=configs/base.cfg`` on
its first line, or a fragment such as ``configs/paper_size.cfg`` on any line (expanded in place: a later flag
overrides an earlier one; paths are resolved from the working directory: run from the repository root).
:func:`config_from_args` accepts ``--flagfile=`` too.
"""

import dataclasses
import typing

from absl import flags

from awh_tf.config import Config, DataConfig, ModelConfig, PipelineConfig, TrainConfig

FLAGS = flags.FLAGS

SECTIONS = (("data", DataConfig), ("pipeline", PipelineConfig), ("model", ModelConfig),
            ("train", TrainConfig))

# Fields that are the same quantity under two names: one flag (the value's name) sets both.
ALIASES = {"depth_size": "depth_reg_size"}


def _field_kind(cls, field):
    """One of bool/int/float/str/list_str/list_int for a dataclass field."""
    hint = typing.get_type_hints(cls)[field.name]
    if hint in (bool, int, float, str):
        return hint.__name__
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and args and args[0] in (str, int, float):
        return f"list_{args[0].__name__}"
    raise TypeError(f"{cls.__name__}.{field.name}: flag type {hint} not supported")


def flag_table():
    """``{flag_name: (kind, [(section, field_name), ...], default)}`` over all config sections."""
    table = {}
    for section, cls in SECTIONS:
        for field in dataclasses.fields(cls):
            kind = _field_kind(cls, field)
            default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
            name = ALIASES.get(field.name, field.name)
            if name in table:
                old_kind, targets, old_default = table[name]
                if old_kind != kind:
                    raise TypeError(f"flag --{name}: {kind} in {section} but {old_kind} elsewhere")
                targets.append((section, field.name))
            else:
                table[name] = (kind, [(section, field.name)], default)
    return table


def define_flags(flag_values=FLAGS):
    """Defines ``--workdir``, ``--name`` and one flag per config field in ``flag_values`` (default: absl's
    global flags). Safe to call twice."""
    if "workdir" in flag_values:
        return
    flags.DEFINE_string("workdir", None, "Run folder: checkpoints, config.json, TensorBoard logs, "
                        "eval.json. Default: runs/<name>.", flag_values=flag_values)
    flags.DEFINE_string("name", "run", "Label of the run in tables and plots.", flag_values=flag_values)
    for name, (kind, targets, default) in flag_table().items():
        where = ", ".join(f"{s}.{f}" for s, f in targets)
        help_ = f"Sets {where}."
        if kind == "bool":
            flags.DEFINE_bool(name, default, help_, flag_values=flag_values)
        elif kind == "int":
            flags.DEFINE_integer(name, default, help_, flag_values=flag_values)
        elif kind == "float":
            flags.DEFINE_float(name, default, help_, flag_values=flag_values)
        elif kind == "str":
            flags.DEFINE_string(name, default, help_, flag_values=flag_values)
        else:
            flags.DEFINE_list(name, [str(v) for v in default], help_ + " Comma-separated.",
                              flag_values=flag_values)


def config_from_args(args):
    """The :class:`Config` that ``args`` (command-line style, e.g. ``["--da=wdgrl"]``) give, parsed on fresh
    flag values: no global flag state is read or changed (tests, tools)."""
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    flag_values(["prog", *args])
    return config_from_flags(flag_values)


def config_from_flags(flag_values=FLAGS):
    """Builds the frozen :class:`Config` from parsed flags; raises ValueError on an invalid value or a label
    budget the real domain cannot give (:meth:`Config.check_real_domain_labels`)."""
    values = {section: {} for section, _ in SECTIONS}
    for name, (kind, targets, _) in flag_table().items():
        value = flag_values[name].value
        if kind.startswith("list_"):
            cast = {"list_str": str, "list_int": int, "list_float": float}[kind]
            value = tuple(cast(v) for v in value if str(v).strip())
        for section, field_name in targets:
            values[section][field_name] = value
    sections = {section: cls(**values[section]) for section, cls in SECTIONS}
    config = Config(name=flag_values["name"].value, **sections)
    config.check_real_domain_labels()
    return config


def workdir_from_flags(config, flag_values=FLAGS):
    return flag_values["workdir"].value or f"runs/{config.name}"
