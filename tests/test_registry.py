"""The plug-in registry: decorator, 'module:attr', entry points, lazy built-ins, Verdict."""

import subprocess
import sys
import textwrap

import pytest

from verifiers import UnknownVerifierError, Verdict, available, get_verifier, register


def test_register_by_decorator():
    @register("test_registry_exact")
    def exact(completion, answer):
        return Verdict(float(completion == answer), "ok")

    assert get_verifier("test_registry_exact") is exact
    assert "test_registry_exact" in available()
    assert exact.verifier_name == "test_registry_exact"  # what the pool sends to workers


def test_module_attr_string():
    fn = get_verifier("verifiers.math_verifier:math_verifier")
    assert fn("\\boxed{3}", "3") == Verdict(1.0, "ok")


@pytest.mark.parametrize("name", ["nope", "verifiers.math_verifier:nope", "no_such_module:fn", ""])
def test_unknown_names_list_what_is_available(name):
    with pytest.raises(UnknownVerifierError) as e:
        get_verifier(name)
    assert "math" in str(e.value)


def test_entry_point_of_an_installed_package(tmp_path, monkeypatch):
    """A distribution on sys.path with an ``rldistill.verifiers`` entry point, as pip would install it."""
    (tmp_path / "shout_verifier.py").write_text(
        textwrap.dedent(
            """
            from verifiers import Verdict

            def shout(completion, answer):
                ok = completion.strip().upper() == answer.strip().upper()
                return Verdict(float(ok), "ok" if ok else "mismatch")
            """
        )
    )
    dist = tmp_path / "shout_verifier-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-verifier\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[rldistill.verifiers]\nshout = shout_verifier:shout\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "shout" in available()
    assert get_verifier("shout")("hello", "HELLO") == Verdict(1.0, "ok")


def test_builtins_are_lazy_and_cheap_to_import():
    """Workers import the registry and math verifier; neither pulls in SymPy until it is needed."""
    code = (
        "import sys, verifiers; assert 'verifiers.math_verifier' not in sys.modules;"
        "f = verifiers.get_verifier('math'); assert 'sympy' not in sys.modules;"
        "assert f('\\\\boxed{12}', '12').score == 1.0; assert 'sympy' not in sys.modules;"
        "assert f('\\\\boxed{\\\\sqrt{4}}', '2').score == 1.0; assert 'sympy' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("score", [-0.1, 1.5, float("nan")])
def test_verdict_scores_stay_in_range(score):
    with pytest.raises(ValueError):
        Verdict(score, "ok")


def test_verdict_none_means_cannot_judge():
    assert Verdict(None, "parse_error").score is None
    assert Verdict(1, "ok").score == 1.0 and isinstance(Verdict(1, "ok").score, float)
