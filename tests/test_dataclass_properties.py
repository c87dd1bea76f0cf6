"""No wxent dataclass reads a field through a property that shadows it.

A property of a subclass that shadows a dataclass field of its base is not called by
torch 2.11's compiler: it read the field's value instead. ``Inputs.valid`` was such a
field (the mask of ignored labels, made lazily by ``IndexInputs`` and ``MaskedInputs``):
under ``torch.compile`` with torch 2.11 (what CUDA machines run) ignored labels counted
in the loss and got a gradient. The mask is now the field ``given_valid`` read through
the property ``valid``; this test keeps the pattern out of every module.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import triton  # noqa: F401  (before TensorFlow, which wxent.keras imports)

import wxent


def _dataclasses() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(wxent.__path__, "wxent."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and dataclasses.is_dataclass(value)
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def test_no_property_shadows_a_dataclass_field():
    classes = _dataclasses()
    names = {cls.__name__ for cls in classes}
    assert {"Inputs", "IndexInputs", "MaskedInputs"} <= names  # the walk reached them
    shadowing = []
    for cls in classes:
        fields = {f.name for f in dataclasses.fields(cls)}
        for klass in cls.__mro__:
            for attr, value in vars(klass).items():
                if attr in fields and isinstance(value, property):
                    shadowing.append(f"{cls.__qualname__}.{attr} ({klass.__qualname__})")
    assert shadowing == []
