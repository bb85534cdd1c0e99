"""The toy world: a synthetic world of captioned 64x64 images of shapes, colours and
backgrounds, whose captions use the style tags' exact prompt fragments.

    world.py         vocabulary, scenes, rendering, captions, prompt parsing
    effects.py       shape masks and the 15 modifier effects (pure numpy)
    oracle.py        reads an image back (background, colour, shape) without a network
    vocabulary.yaml  the world's words, planted role rates and caption wording

Only numpy, Pillow and PyYAML are used here; the models trained on this world live
elsewhere and import these modules.
"""
