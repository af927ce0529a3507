"""HAS-8 neuron, fusion blocks, ResNet/VGG models and twins, and the training CLI on digits-image."""
from __future__ import annotations

import json

import pytest
import torch

from silava.train.checkpoint import load_checkpoint
from silava.train.config import ConfigError, merge_configs, model_config
from silava.train.has8 import BitNeuron, FusionBlock, Has8Net, build_has8, macs
from silava.train.model import build_model
from silava.train.train import main


def test_neuron_equations():
    """LIF(τ=2): v' = v/2 + I/2, spike v' > 1 (strict), reset to 0; IF: v' = v + I."""
    I = torch.tensor([[2.0], [1.0], [1.0], [3.0], [2.0]]).unsqueeze(-1)      # [T, B=1, 1]
    s, v = BitNeuron("lif", 2.0)(I, return_v=True)
    # v': 1 (not > 1) -> 1.0; then 0.5 + 0.5 = 1.0 -> no; 0.5 + 0.5 = 1.0 -> no; 0.5 + 1.5 = 2 -> spike, 0; 1 -> no
    assert s.flatten().tolist() == [0, 0, 0, 1, 0]
    assert v.flatten().tolist() == [1.0, 1.0, 1.0, 0.0, 1.0]
    s, v = BitNeuron("if")(I, return_v=True)
    assert s.flatten().tolist() == [1, 0, 1, 1, 1] and v.flatten().tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert BitNeuron("lif", 2.0).discrete_params() == {"cur_decay": 1.0, "vol_decay": 0.5, "gain": 0.5}
    assert BitNeuron("if").discrete_params() == {"cur_decay": 1.0, "vol_decay": 0.0, "gain": 1.0}
    with pytest.raises(ValueError):
        BitNeuron("alif")
    x = torch.tensor([[[1.0]]], requires_grad=True)                       # ATan surrogate at v' − 1 = 0: α/2 = 1
    BitNeuron("if")(x).sum().backward()
    assert float(x.grad) == pytest.approx(1.0)


@pytest.mark.parametrize("op,shape", [("conv", (2, 3, 6, 6)), ("linear", (2, 12))])
def test_fusion_block_paths(op, shape, one_thread):
    torch.manual_seed(0)
    c_in = shape[1]
    fusion = FusionBlock(op, c_in, 4)
    x = torch.rand(shape)
    y, rec = fusion(x, record=True)
    assert torch.allclose(y, rec["ann"] + rec["snn"])
    assert rec["planes"].shape == (8,) + shape and rec["spikes"].shape[:2] == (8, 2)
    assert (y >= 0).all()
    ann, snn = FusionBlock(op, c_in, 4, path="ann"), FusionBlock(op, c_in, 4, path="snn")
    n = lambda m: sum(p.numel() for p in m.parameters())                   # noqa: E731
    assert n(fusion) == n(ann) + n(snn)
    assert ann(x).shape == snn(x).shape == y.shape
    assert not hasattr(ann, "neuron") and not hasattr(snn, "ann_op")


@pytest.mark.parametrize("arch", ["has8-resnet", "has8-vgg"])
def test_models_and_twins(arch, one_thread):
    torch.manual_seed(1)
    x = torch.randint(0, 256, (3, 1, 64)).float()
    nets = {p: Has8Net(arch, (1, 8, 8), 10, width=4, path=p) for p in ("fusion", "ann", "snn")}
    for net in nets.values():
        out = net(x)
        assert out.shape == (3, 10)
        out.sum().backward()
    assert nets["fusion"].program == nets["ann"].program == nets["snn"].program
    widths = [[b.c_out for b in n.blocks] for n in nets.values()]
    assert widths[0] == widths[1] == widths[2]
    n = {p: sum(q.numel() for q in m.parameters()) for p, m in nets.items()}
    head = sum(q.numel() for q in nets["ann"].head.parameters())
    assert n["fusion"] == n["ann"] + n["snn"] - head
    m = macs(nets["fusion"])
    assert m["snn_dense_total"] == 8 * (m["ann_total"] - m["head"])
    again = build_model(nets["fusion"].config)
    assert json.dumps(again.config) == json.dumps(nets["fusion"].config)
    rec = nets["fusion"](x, record=True)
    assert len(rec["blocks"]) == len(nets["fusion"].blocks)
    assert rec["blocks"][0]["planes"].shape == (8, 3, 1, 8, 8)


def test_resnet_structure():
    net = Has8Net("has8-resnet", (1, 8, 8), 10, width=4, depth=2, blocks=1)
    assert [b.stride for b in net.blocks] == [1, 1, 1, 2, 1]
    assert [b.rescale for b in net.blocks] == ["none", "sample", "sample", "sample", "sample"]
    assert [s["op"] for s in net.program].count("shortcut_add") == 2
    assert net.block_shapes[-1][1] == (8, 4, 4)
    with pytest.raises(ValueError, match="too small"):
        Has8Net("has8-resnet", (1, 8, 8), 10, width=4, depth=5)
    with pytest.raises(ValueError, match="unknown has8-vgg option"):
        build_has8({"arch": "has8-vgg", "image_shape": [1, 8, 8], "n_classes": 10, "widht": 3})


def test_vgg_structure():
    net = Has8Net("has8-vgg", (1, 8, 8), 10, width=4, depth=3, hidden=20)
    assert [b.op for b in net.blocks] == ["conv", "conv", "conv", "linear"]
    assert net.blocks[-1].c_in == 16 * 1 * 1 and net.blocks[-1].c_out == 20
    assert [s["op"] for s in net.program].count("maxpool") == 3


def test_config_dispatch():
    cfg = merge_configs({"task": "digits-image", "arch": "has8-vgg", "arch_kwargs": {"width": 4}})
    mc = model_config(cfg, 64, 10, image_shape=(1, 8, 8))
    assert mc["arch"] == "has8-vgg" and mc["width"] == 4
    with pytest.raises(ConfigError, match="needs an image task"):
        model_config(cfg, 64, 10)
    with pytest.raises(ConfigError, match="--arch-opt"):
        model_config(merge_configs({"task": "randman", "arch_kwargs": {"width": 4}}), 40, 10)
    with pytest.raises(ConfigError, match="arch"):
        merge_configs({"arch": "resnet"})


def test_train_cli_digits_image(tmp_path, capsys):
    """``silava train --task digits-image --arch has8-resnet``: a short run writes a checkpoint that loads."""
    out = tmp_path / "run"
    code = main(["--task", "digits-image", "--arch", "has8-resnet", "--arch-opt", "width=4", "--arch-opt",
                 "surrogate=sigsine", "--epochs", "1", "--max-samples", "64", "--batch-size", "32",
                 "--lr", "0.01", "--threads", "1", "--out", str(out), "--quiet"])
    assert code == 0
    assert "digits-image/has8-resnet/fusion" in capsys.readouterr().out
    model, ckpt = load_checkpoint(out / "ckpt.pt")
    assert isinstance(model, Has8Net) and model.blocks[0].surrogate == "sigsine"
    assert ckpt["train_config"]["task_facts"]["encoding"] == "graded"
    assert main(["--eval-only", str(out), "--max-samples", "16"]) == 0


def test_train_cli_errors(tmp_path, capsys):
    code = main(["--task", "randman", "--arch", "has8-vgg", "--epochs", "1", "--out", str(tmp_path / "a"),
                 "--data-opt", "samples_per_class=4"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "needs an image task" in err and len(err.splitlines()) == 1
    code = main(["--task", "digits-image", "--encoding", "bitplane", "--arch", "has8-vgg", "--epochs", "1",
                 "--out", str(tmp_path / "b")])
    assert code == 2 and "no --encoding bitplane" in capsys.readouterr().err
    code = main(["--task", "digits-image", "--arch", "has8-vgg", "--arch-opt", "path=both", "--epochs", "1",
                 "--out", str(tmp_path / "c")])
    assert code == 2 and "path must be one of" in capsys.readouterr().err


def test_bitplane_encoding_for_sparch(tmp_path):
    """``--encoding bitplane`` feeds the existing SpArch model binary planes of the image (8 steps)."""
    out = tmp_path / "sparch"
    code = main(["--task", "digits-image", "--encoding", "bitplane", "--neuron", "lif", "--hidden", "16",
                 "--epochs", "1", "--max-samples", "64", "--threads", "1", "--out", str(out), "--quiet"])
    assert code == 0
    _, ckpt = load_checkpoint(out / "ckpt.pt")
    assert ckpt["data_config"]["encode"] == "bitplane"
    assert ckpt["train_config"]["task_facts"] == {"n_inputs": 64, "n_classes": 10, "n_steps": 8, "dt": 1.25e-4,
                                                  "encoding": "binary"}
