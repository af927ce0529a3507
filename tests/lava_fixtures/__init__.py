"""Lava Processes used only by the tests (kept in their own package: Lava's
model discovery executes every module next to a Process)."""
