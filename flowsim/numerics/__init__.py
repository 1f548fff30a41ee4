"""Model-free numerics: compiled-kernel cache (jit), special functions, SIMD math."""
