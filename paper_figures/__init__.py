"""The paper's figures: one module per figure, each with

    NAME, TITLE
    generate(out_dir, fast=False, tiny=False) -> path of a results file (data only, with
        the parameters and the package version: paper_figures.common.save_results)
    plot(results_path, out_dir) -> path of the image (reads only that file)

`python -m paper_figures [--list] [--only NAME] [--fast] [--out DIR]` regenerates them
under paper_figures/out/ (or DIR; `--out docs/figures` renders the documentation's
copies); it prints each figure's time and the total. Figures use flowsim's public API
(and flowsim.training for the trained models).
"""
from importlib import import_module

FIGURE_MODULES = (
    "fig_circle_collapse",
    "fig_gaussian_flow",
    "fig_mean_alignment",
    "fig_vanishing_weight",
    "fig_nf_contours",        # F1
    "fig_ode_vs_simulation",  # F2
    "fig_nf_collapse",        # F5
    "fig_single_gaussian",    # F7
    "fig_divergence_zoo",
)


def figures():
    """name -> module, in paper order."""
    mods = [import_module(f"{__name__}.{m}") for m in FIGURE_MODULES]
    return {m.NAME: m for m in mods}
