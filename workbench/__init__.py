"""Prompt Workbench: compose text-to-image prompts, generate seeded variations,
compare modifiers side by side, and map CLIP latent space, in JupyterLab.

`import workbench` stays light: torch, diffusers, open_clip and umap are only
imported by the modules that generate, embed or project.
"""

__version__ = "0.2.0"
