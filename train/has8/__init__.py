"""HAS-8: bit-plane spike encoding and layer-wise ANN/SNN fusion (neurons.md §9; docs/has8.md).

* :mod:`.encoding` — bit-plane encoder (exact MSB-first planes forward; SigSine / TanhSine /
  FourierSine surrogates and the order-aware gradient rescale backward), bit-plane and rate decoders;
* :mod:`.neuron` — the SNN path's IF / LIF(τ=2) neuron (deploys as Lava's CUBA);
* :mod:`.blocks` — :class:`FusionBlock` (conv and linear; paths fusion / ann / snn);
* :mod:`.models` — :class:`Has8Net` (``has8-resnet``, ``has8-vgg``) and its program.
"""
from .blocks import OPS, PATHS, FusionBlock
from .encoding import SURROGATES, bitplane_encode, decode, rescale_factors, to_level_units
from .models import ARCHS, OPTIONS, Has8Net, build_has8, macs
from .neuron import BitNeuron

__all__ = ["ARCHS", "OPTIONS", "OPS", "PATHS", "SURROGATES", "BitNeuron", "FusionBlock", "Has8Net",
           "bitplane_encode", "build_has8", "decode", "macs", "rescale_factors", "to_level_units"]
