"""The Python API as a user meets it: ``import commst`` and its namespaces."""

from __future__ import annotations

import subprocess
import sys


def test_import_commst_exposes_the_namespaces_without_touching_the_backend():
    code = (
        "import matplotlib; before = matplotlib.get_backend(); import sys, commst; "
        "assert 'commst.pl' not in sys.modules; "
        "print(all(hasattr(commst, n) for n in ('pp', 'tl', 'pl', 'io', 'ccc', 'priors', 'validate'))); "
        "print(callable(commst.tl.get_method) and callable(commst.pl.spatial_lr_genes)); "
        "print(matplotlib.get_backend() == before)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"], out.stderr


def test_an_unknown_attribute_is_an_attribute_error():
    import pytest

    import commst

    with pytest.raises(AttributeError, match="has no attribute 'tools'"):
        commst.tools  # noqa: B018
