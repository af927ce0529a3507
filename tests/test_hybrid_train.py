"""The hybrid recurrent network (train/hybrid.py): mask, dynamics against an independent loop,
variants, flexible spiking, regulariser, training from the CLI and the API, the frames binning."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from silava.train.hybrid import HybridNet, binarize, spiking_mask


def reference_forward(net: HybridNet, x: torch.Tensor, *, bug: str = "") -> torch.Tensor:
    """The spec §7.1 equations written out per unit with plain Python floats (an independent
    implementation): returns the readout ``v [B, T, C]``."""
    cfg = net.config
    a = math.exp(-cfg["dt"] / cfg["tau_syn"])
    b = math.exp(-cfg["dt"] / cfg["tau_mem"])
    bo = math.exp(-cfg["dt"] / cfg["tau_readout"])
    W1 = net.w_in.detach().double().numpy()
    V = None if net.w_rec is None else net.w_rec.detach().double().numpy()
    W2 = net.w_out.detach().double().numpy()
    m = net.mask.double().numpy()
    B, T, _ = x.shape
    H, C = W1.shape[0], W2.shape[0]
    out = np.zeros((B, T, C))
    for bi in range(B):
        syn = np.zeros(H)
        mem = np.zeros(H)
        o = np.zeros(H)
        flt = np.zeros(C)
        v = np.zeros(C)
        for t in range(T):
            J = W1 @ x[bi, t].double().numpy()
            if V is not None:
                for i in range(H):
                    for j in range(H):
                        if cfg["recurrent"] == "separate" and m[i] != m[j]:
                            continue
                        J[i] += V[i, j] * o[j]
            new_o = np.zeros(H)
            for i in range(H):
                if m[i] == 1:
                    s = 1.0 if mem[i] - 1.0 > 0 else 0.0
                    r = s
                    new_o[i] = s
                elif cfg["nonspiking"] == "nsn":
                    g = min(max(mem[i], 0.0), 1.0)
                    r = g if cfg["nsn_reset"] else 0.0
                    new_o[i] = g
                else:
                    new_o[i] = math.tanh(J[i])
                if m[i] == 1 or cfg["nonspiking"] == "nsn":
                    lif = b * mem[i] + (1 - b) * (syn[i] if bug != "new_syn" else a * syn[i] + J[i])
                    syn[i] = a * syn[i] + J[i]
                    mem[i] = lif * (1 - r)
            o = new_o
            h = W2 @ o
            flt = a * flt + h
            v = bo * v + (1 - bo) * flt
            out[bi, t] = v
    return torch.from_numpy(out)


@pytest.mark.parametrize("p,nonspiking,recurrent,nsn_reset", [
    (0.5, "nsn", "direct", True), (0.5, "ann", "direct", True), (0.5, "nsn", "separate", True),
    (0.25, "ann", "separate", True), (1.0, "nsn", "direct", True), (0.0, "nsn", "none", False),
    (0.0, "ann", "direct", True)])
def test_forward_matches_independent_loop(p, nonspiking, recurrent, nsn_reset):
    torch.manual_seed(0)
    net = HybridNet(5, 6, 3, spiking_ratio=p, nonspiking=nonspiking, recurrent=recurrent, nsn_reset=nsn_reset,
                    weight_scale=3.0, shuffle=True, mask_seed=1).double().eval()
    with torch.no_grad():
        net.w_in.abs_().mul_(3.0)                          # strong positive drive: the spiking units fire
    x = (torch.rand(2, 16, 5) < 0.5).double()
    rec = net(x, record=True)
    ref = reference_forward(net, x)
    assert torch.allclose(rec["readout_v"], ref, atol=1e-10)
    assert rec["hidden"]["spikes"].sum() > 0 or p == 0.0
    assert torch.allclose(rec["out"], torch.clamp(ref.max(dim=1).values, min=0))


def test_independent_loop_catches_a_planted_bug():
    """The reference loop with the membrane fed by the NEW synaptic current differs from the model."""
    torch.manual_seed(0)
    net = HybridNet(5, 6, 3, spiking_ratio=0.5, weight_scale=3.0).double().eval()
    x = (torch.rand(2, 12, 5) < 0.4).double()
    assert not torch.allclose(net(x, record=True)["readout_v"], reference_forward(net, x, bug="new_syn"),
                              atol=1e-6)


def test_mask_counts_and_shuffle():
    assert spiking_mask(10, 0.25).tolist() == [1, 1] + [0] * 8
    assert int(spiking_mask(7, 0.5).sum()) == 3                      # floor(3.5)
    assert int(spiking_mask(10, 0.9).sum()) == 9
    shuffled = spiking_mask(20, 0.5, shuffle=True, seed=3)
    assert int(shuffled.sum()) == 10 and shuffled[:10].sum() < 10
    assert torch.equal(shuffled, spiking_mask(20, 0.5, shuffle=True, seed=3))
    with pytest.raises(ValueError, match="spiking_ratio"):
        spiking_mask(4, 1.5)


def test_separate_paths_is_direct_with_block_mask():
    torch.manual_seed(1)
    sep = HybridNet(4, 6, 2, spiking_ratio=0.5, recurrent="separate", weight_scale=2.0).double()
    direct = HybridNet(4, 6, 2, spiking_ratio=0.5, recurrent="direct").double()
    direct.load_state_dict(sep.state_dict())
    with torch.no_grad():
        direct.w_rec.copy_(sep.effective_rec())
    x = (torch.rand(3, 10, 4) < 0.5).double()
    assert torch.equal(sep(x), direct(x))
    rec = sep.effective_rec()
    assert torch.all(rec[:3, 3:] == 0) and torch.all(rec[3:, :3] == 0)


def test_readout_sum_and_max():
    torch.manual_seed(2)
    net = HybridNet(4, 5, 3, readout="sum").eval()
    x = (torch.rand(2, 8, 4) < 0.5).float()
    rec = net(x, record=True)
    assert torch.allclose(rec["out"], rec["readout_v"].sum(1))


def test_flexible_gamma_penalty_and_binarize():
    torch.manual_seed(3)
    net = HybridNet(4, 8, 2, flexible=True, reg={"l2_lower": 0, "l1_upper": 0})
    with torch.no_grad():
        net.gamma.copy_(torch.tensor([0.1, 0.6, 0.5, 0.49, 0.9, 0.0, 1.0, 0.3]))
    net.train()
    net((torch.rand(2, 6, 4) < 0.5).float())
    g = net.gamma.detach()
    assert torch.allclose(net.penalty(), ((g * (1 - g)) ** 2).mean())
    assert net.penalty() is None                                     # consumed once
    fixed = binarize(net)
    assert fixed.gamma is None and fixed.mask.tolist() == [0, 1, 1, 0, 1, 0, 1, 0]
    assert fixed.config["flexible"] is False
    rebuilt = HybridNet(**{k: v for k, v in fixed.config.items() if k != "arch"})
    rebuilt.load_state_dict(fixed.state_dict())
    assert torch.equal(rebuilt.mask, fixed.mask)


def test_flexible_with_binary_gamma_equals_the_masked_model():
    torch.manual_seed(4)
    flex = HybridNet(4, 6, 2, flexible=True, recurrent="separate", weight_scale=2.0).double().eval()
    with torch.no_grad():
        flex.gamma.copy_(torch.tensor([1.0, 0, 1, 0, 0, 1]))
    fixed = binarize(flex).double().eval()
    x = (torch.rand(2, 9, 4) < 0.5).double()
    assert torch.allclose(flex(x), fixed(x), atol=1e-12)


def test_activity_regulariser():
    net = HybridNet(3, 4, 2, spiking_ratio=0.5, reg={"l2_lower": 100.0, "v2_lower": 1.0, "l1_upper": 2.0,
                                                      "v1_upper": 1.0})
    spikes = torch.zeros(2, 5, 4)
    spikes[0, :3, 0] = 1                 # sample 0: unit 0 fires 3 times, unit 1 never
    spikes[1, :, 3] = 1                  # a non-spiking unit: ignored
    counts = torch.tensor([[3.0, 0.0], [0.0, 0.0]])
    lower = 100 * torch.relu(1 - counts).pow(2).mean()
    upper = 2 * torch.relu(counts.mean(-1) - 1).mean()
    assert torch.allclose(net.regulariser(spikes), lower + upper)


def test_bad_options():
    with pytest.raises(ValueError, match="nonspiking"):
        HybridNet(2, 2, 2, nonspiking="relu")
    with pytest.raises(ValueError, match="recurrent"):
        HybridNet(2, 2, 2, recurrent="both")
    with pytest.raises(ValueError, match="tau_mem"):
        HybridNet(2, 2, 2, tau_mem=0)


def test_train_cli_and_checkpoint(tmp_path, capsys):
    from silava.train.checkpoint import load_checkpoint
    from silava.train.train import main

    out = tmp_path / "run"
    rc = main(["--task", "randman", "--arch", "hybrid", "--spiking-ratio", "0.5", "--nonspiking", "nsn",
               "--recurrent", "direct", "--hidden", "8", "--epochs", "1", "--batch-size", "32",
               "--data-opt", "samples_per_class=20", "--data-opt", "n_classes=2", "--quiet", "--out", str(out)])
    assert rc == 0
    assert "hybrid 8 p=0.5 nsn direct" in capsys.readouterr().out
    model, ckpt = load_checkpoint(out)
    assert isinstance(model, HybridNet) and ckpt["model_config"]["arch"] == "hybrid"
    assert ckpt["model_config"]["dt"] == pytest.approx(1e-3) and model.n_spiking == 4
    rc = main(["--task", "randman", "--arch", "hybrid", "--layers", "2", "--out", str(tmp_path / "x")])
    assert rc == 2
    assert "'layers' must be 1" in capsys.readouterr().err


def test_api_fit_flexible(tmp_path):
    import silava

    res = silava.fit("randman", tmp_path / "flex", arch="hybrid", hidden=6, spiking_ratio=0.5, nonspiking="ann",
                     recurrent="separate", epochs=1, batch_size=32, train_fraction=0.5,
                     neuron_kwargs={"flexible": True}, task_options={"samples_per_class": 20, "n_classes": 2},
                     quiet=True)
    assert res.model.gamma is None                        # binarised after training
    assert "flexible" in res.metrics and 0 <= res.metrics["flexible"]["n_spiking"] <= 6


def test_frames_binning():
    from silava.core.data.shd import bin_frames

    times = np.array([0.10, 0.101, 0.36, 0.52, 1.2])
    units = np.array([0, 7, 3, 699, 5])
    x = bin_frames(times, units, n_steps=4, max_time=1.0, spatial_bin=5)   # dt 0.25 from t=0.10
    assert x.shape == (4, 140)
    assert x[0, 0] == 1 and x[0, 1] == 1 and x[1, 0] == 1 and x[1, 139] == 1 and x.sum() == 4


def test_qat_of_a_hybrid_checkpoint(tmp_path):
    """--qat --from a hybrid checkpoint: the fixed-point forward (HybridQATNet), payload bits stored."""
    from silava.train.checkpoint import load_checkpoint
    from silava.train.train import main

    src = tmp_path / "src"
    assert main(["--task", "randman", "--arch", "hybrid", "--hidden", "8", "--epochs", "1", "--batch-size", "40",
                 "--data-opt", "samples_per_class=20", "--data-opt", "n_classes=2", "--quiet", "--out", str(src)]) == 0
    assert main(["--qat", "--from", str(src / "ckpt.pt"), "--epochs", "1", "--quiet", "--out", str(tmp_path / "q")]) == 0
    _, ckpt = load_checkpoint(tmp_path / "q")
    qat = ckpt["train_config"]["qat"]
    assert 2 <= qat["payload_bits"] <= 12 and "fixed_point" in ckpt["metrics"]


def test_hybrid_qat_net_is_the_integer_forward():
    """HybridQATNet in eval mode = run_hybrid of the quantized integers; its gradients reach the weights."""
    from silava.train.hybrid_qat import HybridQATNet, quantize_hybrid, run_hybrid

    torch.manual_seed(5)
    model = HybridNet(6, 8, 3, spiking_ratio=0.5, nonspiking="ann", weight_scale=3.0)
    x = (torch.rand(4, 15, 6) < 0.4).float()
    qnet = HybridQATNet(model, payload_bits=6).eval()
    with torch.no_grad():
        out = qnet(x)
        v = run_hybrid(quantize_hybrid(model, payload_bits=6), x.double())["readout"]
    assert torch.equal(out, torch.clamp((v / 4096).max(dim=1).values, min=0))
    assert torch.equal(v, torch.round(v))                                  # integers
    qnet.train()
    qnet(x).sum().backward()
    assert model.w_in.grad is not None and model.w_in.grad.abs().sum() > 0
    assert model.w_rec.grad is not None and model.w_out.grad.abs().sum() > 0
