"""The integration methods: name -> the code the compiled solver reads (no numba import here).

    dopri5        0  Dormand–Prince 5(4), adaptive
    rk4           1  classic Runge–Kutta, fixed step
    euler         2  explicit Euler, fixed step (gradient descent at learning rate dt)
    dopri5_fixed  3  Dormand–Prince 5th-order solution, fixed step
    radau5        4  Radau IIA of order 5, adaptive (stiff flows)
    auto          5  DOPRI5 until its steps are held by stiffness, then Radau IIA
"""
METHOD_CODES = {"dopri5": 0, "rk4": 1, "euler": 2, "dopri5_fixed": 3, "radau5": 4, "auto": 5}
ADAPTIVE_METHODS = ("dopri5", "radau5", "auto")
FIXED_STEP_METHODS = tuple(m for m in METHOD_CODES if m not in ADAPTIVE_METHODS)
