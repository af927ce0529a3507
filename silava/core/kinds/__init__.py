"""Neuron-kind declarations (filled in below)."""
