"""The package's shape: small modules, imports at the top, one error family, the public
API, and the point-in-time rules of the book (interventions and models before T)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY_AS_OF, write_tables

import churnlab
from churnlab.data import contract as S
from churnlab.data.warehouse import open_warehouse
from churnlab.errors import ChurnlabError, ModelError
from churnlab.pipeline.book import check_model_date, interventions_before

PACKAGE = Path(churnlab.__file__).resolve().parent
MODULES = sorted(PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(p for p in rel.parts if p != "__init__")


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in MODULES
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long


def test_no_churnlab_module_is_imported_inside_a_function():
    hidden = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith(
                            "churnlab"):
                        hidden.append(f"{path.name}:{inner.lineno}")
                    if isinstance(inner, ast.Import) and any(
                            a.name.startswith("churnlab") for a in inner.names):
                        hidden.append(f"{path.name}:{inner.lineno}")
    assert not hidden


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_only_the_cli_commands_and_the_simulator_import_the_simulator():
    offenders = [str(p.relative_to(PACKAGE)) for p in MODULES
                 if p.parent.name != "sim" and p.name not in ("cli.py", "commands.py")
                 and any(m.startswith("churnlab.sim") for m in _imports(p))]
    assert not offenders


@pytest.mark.parametrize("layer, forbidden", [
    ("data", ("features", "signals", "models", "evaluation", "explain", "actions",
              "pipeline", "present")),
    ("features", ("signals", "models", "evaluation", "explain", "actions", "pipeline",
                  "present")),
    ("models", ("explain", "actions", "pipeline", "present")),
    ("explain", ("actions", "pipeline", "present")),
    ("actions", ("pipeline", "present")),
])
def test_data_flows_one_way(layer, forbidden):
    """No module reaches back up the chain inputs -> features -> models -> explain ->
    actions -> pipeline -> present."""
    bad = []
    for p in (PACKAGE / layer).glob("*.py"):
        for m in _imports(p):
            if any(m.startswith(f"churnlab.{f}") for f in forbidden):
                bad.append(f"{p.name} imports {m}")
    assert not bad


def test_every_exception_churnlab_raises_is_a_churnlab_error():
    classes = []
    for info in pkgutil.walk_packages(churnlab.__path__, "churnlab."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == module.__name__ and issubclass(obj, BaseException):
                classes.append(obj)
    assert len(classes) >= 10
    assert [c.__name__ for c in classes if not issubclass(c, ChurnlabError)] == []
    assert len({c.exit_code for c in classes}) == 4     # data, input, model, render


def test_the_public_api_resolves_to_the_pipeline_functions():
    from churnlab.pipeline.book import book
    from churnlab.pipeline.render import render_report

    assert churnlab.book is book and churnlab.render is render_report
    for name in churnlab.__all__:
        assert callable(getattr(churnlab, name)), name
    with pytest.raises(AttributeError):
        churnlab.not_an_api


def test_the_book_sees_only_interventions_started_before_the_as_of_date(tmp_path, tiny_tables):
    iv = tiny_tables[S.INTERVENTIONS]
    later = iv.assign(**{S.INTERVENTION_ID: "I2", S.STARTED_AT: pd.Timestamp(TINY_AS_OF)})
    tiny_tables[S.INTERVENTIONS] = pd.concat([iv, later], ignore_index=True)
    with open_warehouse(write_tables(tiny_tables, tmp_path / "d")) as wh:
        seen = interventions_before(wh, TINY_AS_OF)
        assert list(seen[S.INTERVENTION_ID]) == ["I1"]          # started on T: not yet seen
        assert len(interventions_before(wh, "2024-12-01")) == 2


def test_a_model_trained_after_the_as_of_date_is_refused():
    class Fitted:
        card = {"as_of": "2024-08-01", "model_id": "m1"}

    check_model_date(Fitted(), "2024-08-01")                     # trained at T: fine
    with pytest.raises(ModelError, match="trained at 2024-08-01, after the as-of date"):
        check_model_date(Fitted(), TINY_AS_OF)


def test_every_survival_model_is_a_scikit_learn_estimator_that_clones():
    from sklearn.base import clone

    from churnlab.models.baselines import MODEL_CLASSES, make_model

    for kind in MODEL_CLASSES:
        model = make_model(kind)
        copy = clone(model)
        assert type(copy) is type(model) and copy is not model
        assert copy.get_params() == model.get_params(), kind


def test_no_module_outside_the_simulator_names_an_event_type_of_the_demo():
    """Meaning comes from the signal map (families, roles, root causes, directions)."""
    import re

    from churnlab.data.signal_map import default_signal_map_path, load_signal_map

    names = [s.event_type for s in load_signal_map(default_signal_map_path())]
    found = []
    for path in MODULES:
        if "sim" in path.relative_to(PACKAGE).parts:
            continue
        text = path.read_text()
        found += [f"{path.name}: {n}" for n in names if re.search(rf"\b{n}\b", text)]
    assert not found


def test_roles_root_causes_and_directions_come_from_the_signal_map():
    from churnlab.data.signal_map import SignalMapError, parse_signal_map

    smap = parse_signal_map({"event_types": {
        "score_given": {"family": "sentiment", "kind": "gauge", "label": "score", "role": "nps",
                        "direction": "protective"},
        "bill_late": {"family": "financial", "kind": "flag", "label": "bill late",
                      "root_cause": "service_experience", "direction": "risk"},
        "used": {"family": "usage", "kind": "count", "label": "uses"}}})
    assert smap.role("nps") == "score_given" and smap.role("plan_limit") is None
    assert smap["bill_late"].root_cause == "service_experience"
    assert smap["used"].root_cause == "value_perception" and smap["used"].direction == "unknown"
    assert parse_signal_map(smap.to_dict()) == smap                      # round trip
    for bad in ({"role": "nsp"}, {"root_cause": "pricing"}, {"direction": "up"}):
        with pytest.raises(SignalMapError, match=list(bad)[0]):
            parse_signal_map({"event_types": {"x": {"family": "usage", "kind": "count",
                                                     "label": "x", **bad}}})
