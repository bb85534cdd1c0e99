"""Seeds: parsing, validation, per-image noise and variation slerp."""


from workbench.generation.seeds import MAX_SEED, initial_latent, parse_seeds, seed_noise, slerp


def test_seed_specs():
    assert parse_seeds("0-8") == list(range(9))
    assert parse_seeds("1,5, 9") == [1, 5, 9]
    assert parse_seeds("0-2,10") == [0, 1, 2, 10]
    assert parse_seeds(7) == [7] and parse_seeds(range(3)) == [0, 1, 2]
    assert parse_seeds(str(MAX_SEED)) == [MAX_SEED]
    import numpy as np  # seeds from numpy, as notebooks make them, are plain ints afterwards

    assert parse_seeds(np.arange(3)) == [0, 1, 2] and type(parse_seeds(np.int64(5))[0]) is int


def test_noise_is_per_seed_and_repeatable():
    a, b = seed_noise(1, (4, 8, 8)), seed_noise(1, (4, 8, 8))
    assert (a == b).all() and not (a == seed_noise(2, (4, 8, 8))).all()


def test_slerp_ends_and_norm():
    import torch

    a, b = seed_noise(1, (4, 8, 8)), seed_noise(2, (4, 8, 8))
    assert torch.allclose(slerp(0.0, a, b), a, atol=1e-6) and torch.allclose(slerp(1.0, a, b), b, atol=1e-6)
    mid = slerp(0.5, a, b)
    assert abs(mid.norm() / a.norm() - 1) < 0.05  # a lerp would shrink it to ~0.71
    assert (initial_latent(1, (4, 8, 8), 2, 0.0) == a).all()
    assert torch.allclose(initial_latent(1, (4, 8, 8), 2, 0.3), slerp(0.3, a, b))
