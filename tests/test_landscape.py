"""silava landscape: filter-normalised directions, SAM sharpness, ELA, the files, for a hybrid and a
SpArch checkpoint, float and fixed point."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from silava.app.landscape import (LandscapeError, Settings, filter_normalised_direction, landscape, latin_hypercube,
                                  main, sam_sharpness)

TINY = ["--data-opt", "samples_per_class=20", "--data-opt", "n_classes=2", "--data-opt", "n_steps=20",
        "--epochs", "1", "--batch-size", "40", "--quiet"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    from silava.train.train import main as train

    root = tmp_path_factory.mktemp("land")
    hyb, sp = root / "hybrid", root / "sparch"
    assert train(["--task", "randman", "--arch", "hybrid", "--hidden", "8", "--nonspiking", "ann", "--out", str(hyb),
                  *TINY]) == 0
    assert train(["--task", "randman", "--neuron", "silif", "--hidden", "8", "--layers", "1", "--out", str(sp),
                  *TINY]) == 0
    return {"hybrid": hyb, "sparch": sp}


def test_filter_normalisation():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(4, 6) * torch.arange(1, 5)[:, None]
    b = torch.randn(4)
    d_w, d_b = filter_normalised_direction([w, b], gen)
    assert torch.allclose(d_w.norm(dim=1), w.norm(dim=1))
    assert torch.equal(d_b, torch.zeros(4))


def test_latin_hypercube_strata():
    z = latin_hypercube(10, 3, np.random.default_rng(0))
    for j in range(3):
        assert sorted(np.floor(z[:, j] * 10).astype(int).tolist()) == list(range(10))


def test_sam_on_a_quadratic():
    """L(θ) = ½ θᵀθ at θ = (3, 4): one ascent step of ρ moves along θ, the increase is ρ|θ| + ρ²/2."""
    theta = torch.tensor([3.0, 4.0], dtype=torch.float64)

    class Quad:
        params = [theta]

        def loss(self, offset=None, grad=False):
            t = theta.detach() + (offset[0] if offset else 0)
            t.requires_grad_(True)
            val = 0.5 * (t ** 2).sum()
            g = torch.autograd.grad(val, t)[0] if grad else None
            return float(val.detach()), 0.0, [g] if grad else None

    res = sam_sharpness(Quad(), rho=0.1, steps=3)
    assert res["sharpness_first_step"] == pytest.approx(0.1 * 5 + 0.005)
    assert res["sharpness"] == pytest.approx(0.505)         # already at the ball's best point


@pytest.mark.parametrize("which", ["hybrid", "sparch"])
def test_landscape_files_and_numbers(checkpoints, tmp_path, which):
    settings = Settings(samples=24, batch_size=24, points=5, grid=3, ascent_steps=2, ela_samples=12)
    res = landscape(checkpoints[which], out=tmp_path, settings=settings)
    data = json.loads((tmp_path / "landscape.json").read_text())
    assert set(data["modes"]) == {"float", "fixed"}
    for mode, r in data["modes"].items():
        assert len(r["line_loss"]) == 5 and np.shape(r["surface_loss"]) == (3, 3)
        mid = r["line_loss"][2]
        assert mid == pytest.approx(r["loss"], rel=1e-9)      # a = 0 is the trained point
        assert r["surface_loss"][1][1] == pytest.approx(r["loss"], rel=1e-9)
        assert r["sam"]["sharpness"] >= r["sam"]["sharpness_first_step"] - 1e-12
        assert "ela_meta.lin_simple.adj_r2" in r["ela"]["ela_meta"]
    if which == "hybrid":
        assert data["modes"]["fixed"]["settings"]["payload_bits"] >= 2
    for name in ("landscape_1d.png", "landscape_2d.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert res["files"]["json"].endswith("landscape.json")


def test_cli_errors(checkpoints, tmp_path, capsys):
    assert main([str(checkpoints["hybrid"]), "--split", "nope"]) == 2
    assert "--split" in capsys.readouterr().err
    not_dir = tmp_path / "file"
    not_dir.write_text("x")
    assert main([str(checkpoints["hybrid"]), "--out", str(not_dir), "--modes", "float"]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.pt")]) == 2
    with pytest.raises(LandscapeError, match="modes"):
        landscape(checkpoints["hybrid"], settings=Settings(modes=("exact",)))
