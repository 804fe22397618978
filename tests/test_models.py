"""The conformance suite over the whole model registry: every registered model must pass `check_model`."""
import pytest
from cryo_disent.models.registry import get_model_class, model_names
from cryo_disent.training.testing import check_model

NAMES = model_names()


def test_registry_not_empty():
    assert "beta_vae" in NAMES


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("ndim", [2, 3])
def test_conformance(name, ndim):
    cls = get_model_class(name)
    if ndim not in cls.supported_ndims:
        pytest.skip(f"{name} does not take {ndim}D input")
    shape = (1, 16, 16, 16) if ndim == 3 else (1, 16, 16)
    terms = check_model(cls, shape)
    assert len(terms) >= 2, f"{name}: report the loss's named terms, not only the total: {terms}"
