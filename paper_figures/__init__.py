"""The paper's figures: one module per figure, each with

    NAME, TITLE
    generate(out_dir, fast) -> path of a results file (data only)
    plot(results_path, out_dir) -> path of the image (reads only that file)

`python -m paper_figures [--list] [--only NAME] [--fast]` regenerates them under
paper_figures/out/. Figures use flowsim's public API only.
"""
from importlib import import_module

FIGURE_MODULES = (
    "fig_circle_collapse",
    "fig_gaussian_flow",
    "fig_mean_alignment",
    "fig_vanishing_weight",
)


def figures():
    """name -> module, in paper order."""
    mods = [import_module(f"{__name__}.{m}") for m in FIGURE_MODULES]
    return {m.NAME: m for m in mods}
