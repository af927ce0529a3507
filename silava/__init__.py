"""silava: spiking neural networks from PyTorch to Lava and Loihi 2."""
__version__ = "0.1.0"
