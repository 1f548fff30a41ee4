"""Device choice for the torch simulations: cuda when available, else the CPU."""
from __future__ import annotations

DEVICES = ("cpu", "cuda")


def pick_device(name: str | None = None):
    """torch.device for `name` ("cpu" | "cuda" | None = cuda if available else cpu).

    ValueError (naming the field) for an unknown name or for "cuda" without a GPU."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in DEVICES:
        raise ValueError(f"device: must be one of {DEVICES}, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' requested but torch sees no GPU")
    return torch.device(name)


def generator(seed: int, device) -> "torch.Generator":
    """A torch.Generator on `device` seeded with `seed` (every random draw goes through one)."""
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g
