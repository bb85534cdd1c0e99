"""The toy world: a synthetic world of captioned 64x64 images of shapes, colours and
backgrounds, whose captions use the style tags' exact prompt fragments, and the embedded model
trained on it.

    vocabulary.py     the world's words, planted role rates and caption wording, read from
                      vocabulary.yaml and checked
    world.py          scenes, rendering, captions, prompt parsing
    effects.py        shape masks and the 15 modifier effects (pure numpy)
    sampler.py        the world used like a model: a perfect model's images, for the bias probe
    oracle.py         reads an image back (background, colour, shape) without a network
    render_oracle.py  reads which render engine an image shows, without a network (scikit-learn)
    recipe.py, train.py, models.py, estimate.py   the model and its recipe; its stages in
                      clip_stages.py (CLIP) and diffusion_stages.py (VAE, UNet)
    evaluate.py       the quality figures of the model card; zero_shot.py, the toy CLIP's
                      reading of them; misses.py, the oracle's misses as a picture
    paths.py          where the shipped model lives; commands.py  `workbench toyworld ...`

The world, effects and oracles use numpy, Pillow and PyYAML (and scikit-learn, imported when a
reader is fitted); torch, diffusers and open_clip are imported only by the model modules.
"""
