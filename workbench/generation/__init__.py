"""Generation: load any diffusers text-to-image model, make seeded images that do not depend on
their batch, and lay them out as variation grids and modifier comparisons.

Heavy modules (torch, diffusers) are imported inside the functions that use them.
"""
